// A browser's connections to one origin: at most N (6 in every major browser), one request
// at a time on each (no HTTP/1.1 pipelining), the rest waiting in line. That line is what
// makes a browser's 7th long-polling tab wait, and the pool measures how long each request
// waited in it (seed 000's queueing behind 6 connections). Hand-rolled over undici Clients rather than an
// undici Pool because a Pool allocates about 18 KB up front and the runner holds thousands
// of browsers; a Client costs under 2 KB.
import { performance } from 'node:perf_hooks';
import { Client, type Dispatcher } from 'undici';

export interface ConnectionEvents {
  connected(): void;
  disconnected(): void;
}

export class ConnectionPool {
  readonly #origin: string;
  readonly #max: number;
  readonly #options: Client.Options;
  readonly #events: ConnectionEvents;
  readonly #clients: Client[] = [];
  readonly #idle: Client[] = [];
  readonly #waiting: ((client: Client) => void)[] = [];

  constructor(origin: string, max: number, options: Client.Options, events: ConnectionEvents) {
    this.#origin = origin;
    this.#max = max;
    this.#options = options;
    this.#events = events;
  }

  /** Requests waiting for a free connection. */
  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `use` on a free connection, waiting in line for one when all N are busy; `use` learns
   * how many ms the request waited for its connection (0 when one was free).
   */
  async with<T>(use: (client: Client, queuedMs: number) => Promise<T>): Promise<T> {
    const asked = performance.now();
    const client = await this.#acquire();
    try {
      return await use(client, performance.now() - asked);
    } finally {
      this.#release(client);
    }
  }

  #acquire(): Promise<Client> {
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#clients.length < this.#max) {
      const client = new Client(this.#origin, { ...this.#options, pipelining: 1 });
      client.on('connect', () => this.#events.connected());
      client.on('disconnect', () => this.#events.disconnected());
      this.#clients.push(client);
      return Promise.resolve(client);
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(client: Client): void {
    const next = this.#waiting.shift();
    if (next) next(client);
    else this.#idle.push(client);
  }

  async destroy(): Promise<void> {
    await Promise.allSettled(this.#clients.map((c) => c.destroy()));
  }
}

/**
 * One request on `client`, its body read as text. undici's request() hands the body over as a
 * stream, which costs a receiving runner several times what the bytes do: a broadcast answers
 * thousands of parked polls at once, and the runner's one thread reads them in turn.
 */
export function exchange(
  client: Client,
  options: Pick<Dispatcher.DispatchOptions, 'path' | 'method' | 'headers' | 'body'>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    client.dispatch(options, {
      onConnect() {},
      onHeaders(statusCode) {
        status = statusCode;
        return true;
      },
      onData(chunk) {
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        resolve({
          status,
          text: chunks.length === 1 ? (chunks[0] as Buffer).toString() : Buffer.concat(chunks).toString(),
        });
      },
      onError: reject,
    });
  });
}
