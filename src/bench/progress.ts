// Progress of a long bench: one line rewritten in place on a terminal, plain lines every few
// seconds otherwise (CI logs, pipes), so a run never looks stuck and never floods a log.

export interface ProgressState {
  label: string;
  phase: string;
  elapsed: number;
  total: number;
  tabs: number;
  requestsPerSecond: number;
  failures: number;
  errors: number;
}

const PLAIN_EVERY_MS = 5000;

export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  #lastPlain = 0;
  #lastPhase = '';
  #dirty = false;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true && process.env.CI === undefined;
  }

  update(s: ProgressState): void {
    const line =
      `${s.label} | ${s.phase} ${s.elapsed.toFixed(0)}/${s.total.toFixed(0)} s | ${s.tabs} tabs | ` +
      `${s.requestsPerSecond.toFixed(0)} req/s | ${s.failures} serialization failures | ${s.errors} errors`;
    if (this.#tty) {
      this.#stream.write(`\r\x1b[K${line.slice(0, (this.#stream.columns ?? 120) - 1)}`);
      this.#dirty = true;
      return;
    }
    const now = Date.now();
    if (s.phase !== this.#lastPhase || now - this.#lastPlain >= PLAIN_EVERY_MS) {
      this.#stream.write(`${line}\n`);
      this.#lastPlain = now;
      this.#lastPhase = s.phase;
    }
  }

  /** A line that stays (case finished, warnings); clears the in-place line first. */
  log(line: string): void {
    if (this.#dirty) this.#stream.write('\r\x1b[K');
    this.#dirty = false;
    this.#stream.write(`${line}\n`);
  }
}
