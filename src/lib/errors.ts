// Every error busbench reports to a user comes from this factory, so each one has a stable
// code and a message that says what to do next (piscina's errors.ts style). An error is either
// an HTTP answer (a status) or the end of a command (an exit code), never both.

import { HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from './http-timeouts.js';

interface HttpCodeDoc {
  readonly status: number;
  readonly retryAfter?: number;
  /** Markdown for the README's error-code table. */
  readonly when: string;
}

interface CliCodeDoc {
  readonly exitCode: number;
  readonly when: string;
}

/** Each code's status or exit code and its documentation; the factory and the README read them from here. */
export const ERROR_CODES = {
  E_CONFIG: {
    exitCode: 2,
    when: 'A flag or environment variable has an invalid value (CLI only, not HTTP).',
  },
  E_EMBEDDED_POSTGRES: {
    exitCode: 1,
    when:
      "The embedded PostgreSQL could not start (CLI only). The message carries PostgreSQL's own error; " +
      '`DATABASE_URL` uses an existing server instead.',
  },
  E_DATABASE: {
    exitCode: 1,
    when: 'The database could not be migrated or seeded at start-up, e.g. a wrong `DATABASE_URL` (CLI only).',
  },
  E_BAD_RUN: {
    exitCode: 2,
    when:
      '`busbench report` or `compare` was given a folder without a readable `run.json`, or one that does not match ' +
      'its schema (`busbench schema` prints it); the message lists the broken JSON paths.',
  },
  E_NO_K6: {
    exitCode: 2,
    when:
      '`busbench bench --engine k6` found no `k6` on PATH. The message says how to install it; without ' +
      '`--engine k6` the built-in Node runner generates the load.',
  },
  E_INVALID_CASE: {
    exitCode: 3,
    when:
      '`busbench bench` measured a case that did no work (tabs that never got in, no posts, no deliveries, no commits) ' +
      'or whose load generator was saturated (over 80 % CPU, event-loop lag, posts sent late). run.json, the table and ' +
      'the report name it with the reasons and leave it out; fix the reason (a lighter load, fewer other processes) and run again. ' +
      'A case that failed to run at all still exits 1.',
  },
  E_THRESHOLDS: {
    exitCode: 99,
    when:
      'A `--threshold` was broken by a valid case, or k6 reported a broken threshold of its own: the figures are ' +
      "written, but they break a limit (k6's exit code for the same). An invalid case (exit 3) takes precedence.",
  },
  E_BAD_JSON: { status: 400, when: 'The request body is not valid JSON.' },
  E_BAD_INPUT: {
    status: 400,
    when: 'A field is missing, has the wrong type or is out of range; `field` names it. Nothing is written.',
  },
  E_BAD_REQUEST: {
    status: 400,
    when:
      "The request is not valid HTTP/1.1 (Node's parser refused it, e.g. both `Content-Length` and " +
      '`Transfer-Encoding`, or a bad method). The connection is closed.',
  },
  E_HEADERS_TOO_LARGE: {
    status: 431,
    when:
      "The request line and headers exceed Node's limit (16 KB unless `--max-http-header-size` changes it). " +
      'The connection is closed.',
  },
  E_CHUNK_EXTENSIONS_TOO_LARGE: {
    status: 413,
    when: "A chunked body's chunk extensions exceed Node's 16 KB limit. The connection is closed.",
  },
  E_REQUEST_TIMEOUT: {
    status: 408,
    when:
      `The request's headers did not all arrive within ${HEADERS_TIMEOUT_MS / 1000} s (the server's ` +
      `\`headersTimeout\`), or the whole request within ${REQUEST_TIMEOUT_MS / 1000} s (\`requestTimeout\`). ` +
      'A parked poll is not cut: both end once its request has arrived. The connection is closed.',
  },
  E_UNAUTHORIZED: {
    status: 401,
    when: 'There is no token, the token is unknown, or the login or password is wrong.',
  },
  E_FORBIDDEN: {
    status: 403,
    when: "The caller is not a member of the channel, asked for another user's `user:` channel, or wrote another user's presence.",
  },
  E_NOT_FOUND: { status: 404, when: 'No endpoint at that path, or the channel, user or membership does not exist.' },
  E_WRONG_PROCESS: {
    status: 404,
    when: 'dedicated-longpoll: `/bus/*` was sent to a worker, or anything else to the bus process. The message names the right origin.',
  },
  E_METHOD: { status: 405, when: 'The path exists but not with that method.' },
  E_UPGRADE_REQUIRED: {
    status: 426,
    when: '`GET /websocket` without `Upgrade: websocket`: the endpoint only opens websockets.',
  },
  E_TOO_LARGE: { status: 413, when: 'The body is larger than `--body-limit`. The connection is closed.' },
  E_VALIDATION: {
    status: 422,
    when:
      'A membership change failed its check. With `--skip-unwrap true` (seed 003) this is a concurrent update ' +
      "re-raised as a validation error, as Odoo's `@api.constrains` does, and never retried: retry the request.",
  },
  E_TX_CONFLICT: {
    status: 409,
    retryAfter: 1,
    when: 'A unit of work failed on 40001/40P01/55P03 `--max-tries` times.',
  },
  E_POOL_EXHAUSTED: {
    status: 503,
    retryAfter: 1,
    when:
      'No pooled connection became free within `--pool-timeout`, or PostgreSQL refused a connection ' +
      '(53300 too_many_connections).',
  },
  E_DATABASE_UNAVAILABLE: {
    status: 503,
    retryAfter: 1,
    when:
      'PostgreSQL cannot be reached, or it ended the connection this request held (a restart, an admin ' +
      'shutdown 57P01, pg_terminate_backend) and the unit could not run again: its COMMIT was sent (it may ' +
      'have taken effect), it had used its `--max-tries`, or it is a one-try presence write. ' +
      'The process stays up and serves again once PostgreSQL is back.',
  },
  E_TOO_MANY_POLLS: { status: 503, retryAfter: 5, when: 'The process already holds `--max-parked` parked polls.' },
  E_BUSY: {
    status: 503,
    retryAfter: 1,
    when: 'worker-threads: every thread is busy and `--max-parked` requests are already queued.',
  },
  E_SHUTTING_DOWN: { status: 503, retryAfter: 1, when: 'The server is stopping.' },
  E_UPSTREAM_UNAVAILABLE: {
    status: 503,
    retryAfter: 1,
    when:
      "dedicated-longpoll's front could not reach the worker or the bus process behind it (restarting " +
      'after a crash); the front serves again once it is back.',
  },
  E_THREAD_LOST: {
    status: 503,
    retryAfter: 1,
    when: 'worker-threads: the request thread running the request ended (a crash); a new thread takes its place.',
  },
  E_INTERNAL: { status: 500, when: 'Any other failure. The details go to the server log, never to the client.' },
} as const satisfies Record<string, HttpCodeDoc | CliCodeDoc>;

export type ErrorCode = keyof typeof ERROR_CODES;
type CodesWith<K extends string> = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C] extends Record<K, number> ? C : never;
}[ErrorCode];
export type HttpErrorCode = CodesWith<'status'>;
export type CliErrorCode = CodesWith<'exitCode'>;

export abstract class BusbenchError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'BusbenchError';
    this.code = code;
  }
}

/** An error the server answers with: its status, Retry-After and JSON body. */
export class HttpError extends BusbenchError {
  readonly status: number;
  readonly retryAfter: number | undefined;
  readonly field: string | undefined;

  constructor(code: HttpErrorCode, message: string, field?: string) {
    super(code, message);
    const doc: HttpCodeDoc = ERROR_CODES[code];
    this.status = doc.status;
    this.retryAfter = doc.retryAfter;
    this.field = field;
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

/** An error that ends a busbench command with its exit code. */
export class CliError extends BusbenchError {
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string) {
    super(code, message);
    this.exitCode = ERROR_CODES[code].exitCode;
  }
}

export const errors = {
  config: (name: string, problem: string) =>
    new CliError('E_CONFIG', `${name} ${problem}; see "busbench <command> --help"`),
  embeddedPostgres: (dir: string, cause: unknown) =>
    new CliError(
      'E_EMBEDDED_POSTGRES',
      `the embedded PostgreSQL could not start in ${dir}: ${String((cause as Error)?.message ?? cause).trim()}. ` +
        'Check the log above; to use an existing server instead, set DATABASE_URL',
    ),
  database: (url: string, cause: unknown) =>
    new CliError(
      'E_DATABASE',
      `cannot use PostgreSQL at ${url}: ${(cause as Error)?.message ?? cause}; check DATABASE_URL and that the server runs`,
    ),
  badRun: (path: string, problem: string) =>
    new CliError(
      'E_BAD_RUN',
      `${path} ${problem}; pass a results/<timestamp> directory written by "busbench bench" of this version`,
    ),
  noK6: () =>
    new CliError(
      'E_NO_K6',
      'k6 is not on PATH. Install it (https://grafana.com/docs/k6/latest/set-up/install-k6/: "brew install k6", ' +
        '"winget install k6", the Debian/Ubuntu apt repository, or the grafana/k6 Docker image), or run without --engine k6 ' +
        'to use the built-in Node runner',
    ),
  invalidCase: (cases: string[]) =>
    new CliError(
      'E_INVALID_CASE',
      `${cases.length === 1 ? 'a case is' : `${cases.length} cases are`} invalid (${cases.join('; ')}); ` +
        'their rates are n/a and the comparison leaves them out: remove the cause and run again',
    ),
  thresholds: (broken: string[]) =>
    new CliError(
      'E_THRESHOLDS',
      `${broken.length === 1 ? 'a threshold was' : `${broken.length} thresholds were`} broken: ${broken.join('; ')}`,
    ),
  badJson: (detail: string) =>
    new HttpError('E_BAD_JSON', `request body is not valid JSON (${detail}); send a JSON object`),
  badInput: (field: string, problem: string) => new HttpError('E_BAD_INPUT', `${field} ${problem}`, field),
  badRequest: (reason: string) =>
    new HttpError('E_BAD_REQUEST', `request is not valid HTTP/1.1 (${reason}); fix the client or proxy that sent it`),
  headersTooLarge: (limit: number) =>
    new HttpError(
      'E_HEADERS_TOO_LARGE',
      `request line and headers exceed ${limit} bytes; send a shorter URL or fewer, shorter headers`,
    ),
  chunkExtensionsTooLarge: () =>
    new HttpError(
      'E_CHUNK_EXTENSIONS_TOO_LARGE',
      "the chunk extensions of the request body exceed Node's 16 KB limit; send chunks without extensions",
    ),
  requestTimeout: (headersSeconds: number, requestSeconds: number) =>
    new HttpError(
      'E_REQUEST_TIMEOUT',
      `request did not arrive in time (headers within ${headersSeconds} s, all of it within ${requestSeconds} s); ` +
        'send the whole request without pausing',
    ),
  unauthorized: (why: string) =>
    new HttpError('E_UNAUTHORIZED', `${why}; log in with POST /session and send "Authorization: Bearer <token>"`),
  forbidden: (field: string, what: string) => new HttpError('E_FORBIDDEN', what, field),
  notFound: (what: string) => new HttpError('E_NOT_FOUND', what),
  wrongProcess: (path: string, where: string) =>
    new HttpError('E_WRONG_PROCESS', `${path} is not served here in this layout; send it to ${where}`),
  methodNotAllowed: (method: string, path: string) => new HttpError('E_METHOD', `${method} is not allowed on ${path}`),
  upgradeRequired: () =>
    new HttpError(
      'E_UPGRADE_REQUIRED',
      '/websocket only opens websockets; connect with a WebSocket client (Upgrade: websocket)',
    ),
  tooLarge: (limit: number) =>
    new HttpError('E_TOO_LARGE', `request body exceeds ${limit} bytes; send less or raise --body-limit`),
  /** `cause` is kept, as Odoo's ValidationError kept the OperationalError it replaced (seed 003). */
  validation: (what: string, cause: unknown) =>
    Object.assign(
      new HttpError(
        'E_VALIDATION',
        `${what} failed its check (${(cause as Error)?.message ?? cause}); retry the request`,
      ),
      { cause },
    ),
  conflict: (unit: string, tries: number, sqlstate: string) =>
    new HttpError(
      'E_TX_CONFLICT',
      `${unit} gave up after ${tries} tries on SQLSTATE ${sqlstate} (concurrent update); retry the request or raise --max-tries`,
    ),
  databaseUnavailable: () =>
    new HttpError('E_DATABASE_UNAVAILABLE', 'the database is unreachable or restarting; retry in a moment'),
  poolExhausted: (seconds: number) =>
    new HttpError(
      'E_POOL_EXHAUSTED',
      `no database connection became free within ${seconds} s; retry later or raise --pool-size`,
    ),
  tooManyPolls: (limit: number) =>
    new HttpError(
      'E_TOO_MANY_POLLS',
      `this process already holds ${limit} parked polls; retry later or raise --max-parked`,
    ),
  busy: (why: string) => new HttpError('E_BUSY', `${why}; retry later`),
  shuttingDown: () => new HttpError('E_SHUTTING_DOWN', 'the server is shutting down; retry on another instance'),
  upstreamUnavailable: (what: string, why: string) =>
    new HttpError('E_UPSTREAM_UNAVAILABLE', `the front could not reach ${what} (${why}); retry in a moment`),
  threadLost: () => new HttpError('E_THREAD_LOST', 'the thread serving this request ended; retry in a moment'),
  internal: () => new HttpError('E_INTERNAL', 'internal error; the server log has the details'),
};

/** What a client may see of any thrown value: HTTP errors as they are, anything else as E_INTERNAL. */
export function toPublicError(err: unknown): HttpError {
  return err instanceof HttpError ? err : errors.internal();
}
