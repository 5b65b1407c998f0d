// Every error busbench reports to a user comes from this factory, so each one has a stable
// code, an HTTP status and a message that says what to do next (piscina's errors.ts style).

export class BusbenchError extends Error {
  readonly code: string;
  readonly status: number;
  readonly field: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: string, status: number, message: string, extra: { field?: string; retryAfter?: number } = {}) {
    super(message);
    this.name = 'BusbenchError';
    this.code = code;
    this.status = status;
    this.field = extra.field;
    this.retryAfter = extra.retryAfter;
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

export const errors = {
  config: (name: string, problem: string) =>
    new BusbenchError('E_CONFIG', 2, `${name} ${problem}; see "busbench <command> --help"`, { field: name }),
  embeddedPostgres: (dir: string, cause: unknown) =>
    new BusbenchError(
      'E_EMBEDDED_POSTGRES',
      1,
      `the embedded PostgreSQL could not start in ${dir}: ${String((cause as Error)?.message ?? cause).trim()}. ` +
        'Check the log above; to use an existing server instead, set DATABASE_URL',
    ),
  database: (url: string, cause: unknown) =>
    new BusbenchError(
      'E_DATABASE',
      1,
      `cannot use PostgreSQL at ${url}: ${(cause as Error)?.message ?? cause}; check DATABASE_URL and that the server runs`,
    ),
  badRun: (path: string, problem: string) =>
    new BusbenchError(
      'E_BAD_RUN',
      2,
      `${path} ${problem}; pass a results/<timestamp> directory written by "busbench bench" of this version`,
    ),
  noK6: () =>
    new BusbenchError(
      'E_NO_K6',
      2,
      'k6 is not on PATH. Install it (https://grafana.com/docs/k6/latest/set-up/install-k6/: "brew install k6", ' +
        '"winget install k6", the Debian/Ubuntu apt repository, or the grafana/k6 Docker image), or run without --engine k6 ' +
        'to use the built-in Node runner',
    ),
  badJson: (detail: string) =>
    new BusbenchError('E_BAD_JSON', 400, `request body is not valid JSON (${detail}); send a JSON object`),
  badInput: (field: string, problem: string) => new BusbenchError('E_BAD_INPUT', 400, `${field} ${problem}`, { field }),
  unauthorized: (why: string) =>
    new BusbenchError(
      'E_UNAUTHORIZED',
      401,
      `${why}; log in with POST /session and send "Authorization: Bearer <token>"`,
    ),
  forbidden: (field: string, what: string) => new BusbenchError('E_FORBIDDEN', 403, what, { field }),
  notFound: (what: string) => new BusbenchError('E_NOT_FOUND', 404, what),
  wrongProcess: (path: string, where: string) =>
    new BusbenchError('E_WRONG_PROCESS', 404, `${path} is not served here in this layout; send it to ${where}`),
  methodNotAllowed: (method: string, path: string) =>
    new BusbenchError('E_METHOD', 405, `${method} is not allowed on ${path}`),
  tooLarge: (limit: number) =>
    new BusbenchError('E_TOO_LARGE', 413, `request body exceeds ${limit} bytes; send less or raise --body-limit`),
  conflict: (unit: string, tries: number, sqlstate: string) =>
    new BusbenchError(
      'E_TX_CONFLICT',
      409,
      `${unit} gave up after ${tries} tries on SQLSTATE ${sqlstate} (concurrent update); retry the request or raise --max-tries`,
      { retryAfter: 1 },
    ),
  poolExhausted: (seconds: number) =>
    new BusbenchError(
      'E_POOL_EXHAUSTED',
      503,
      `no database connection became free within ${seconds} s; retry later or raise --pool-size`,
      { retryAfter: 1 },
    ),
  tooManyPolls: (limit: number) =>
    new BusbenchError(
      'E_TOO_MANY_POLLS',
      503,
      `this process already holds ${limit} parked polls; retry later or raise --max-parked`,
      { retryAfter: 5 },
    ),
  busy: (why: string) => new BusbenchError('E_BUSY', 503, `${why}; retry later`, { retryAfter: 1 }),
  shuttingDown: () =>
    new BusbenchError('E_SHUTTING_DOWN', 503, 'the server is shutting down; retry on another instance', {
      retryAfter: 1,
    }),
  internal: () => new BusbenchError('E_INTERNAL', 500, 'internal error; the server log has the details'),
};

/** What a client may see of any thrown value: known errors as they are, anything else as E_INTERNAL. */
export function toPublicError(err: unknown): BusbenchError {
  return err instanceof BusbenchError ? err : errors.internal();
}
