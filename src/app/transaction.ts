// The one way busbench writes to the database: a unit of work at the configured isolation
// level, retried WHOLE on conflicts (Odoo's service retry, Websauna's transaction retry),
// with side effects (NOTIFY, cache signaling) held back until the commit succeeded (seed 002).
// Every attempt is counted per endpoint: failed attempts (retries included, one ROLLBACK each),
// retries (pgbench's "total number of retries"), retried units of work (pgbench's "number of
// transactions retried") and final failures (pgbench's "failed transactions").
// A unit whose connection the server ended before COMMIT was sent is retried too, on a fresh
// connection: the server rolled it back with the connection, so running it again is safe.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { errors } from '../lib/errors.js';
import type { Config, IsolationLevel } from '../lib/server-options.js';
import type { Metrics } from './metrics.js';
import { connectionLost, RETRYABLE_SQLSTATES } from './sqlstates.js';

const ISOLATION_SQL: Record<IsolationLevel, string> = {
  'read-committed': 'READ COMMITTED',
  'repeatable-read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
};

/** A socket that broke under a query has no SQLSTATE; counted as PostgreSQL's connection_failure. */
const CONNECTION_FAILURE = '08006';

export interface Tx {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Runs after a successful COMMIT only; never for an attempt that rolled back. */
  afterCommit(hook: () => Promise<unknown>): void;
}

/**
 * 'retry': retry on a retryable SQLSTATE up to --max-tries, then throw E_TX_CONFLICT; a
 * connection lost before COMMIT is retried within the same tries, then E_DATABASE_UNAVAILABLE.
 * 'give-up': one try; a retryable failure rolls back and is reported, not thrown (Odoo 12+
 * presence: "catch the concurrency error and roll back").
 * 'raise': one try; a retryable failure rolls back, counts as a failed attempt and is thrown
 * as a RetryableConflict for a caller that retries a larger unit (Odoo 8.0's whole request)
 * and counts that retry, or the final failure, itself.
 */
export type ConflictPolicy = 'retry' | 'give-up' | 'raise';

/** A retryable failure left to the caller to retry (policy 'raise'). */
export class RetryableConflict extends Error {
  readonly endpoint: string;
  readonly sqlstate: string;

  constructor(endpoint: string, sqlstate: string) {
    super(`${endpoint}: SQLSTATE ${sqlstate}, left to the caller to retry`);
    this.endpoint = endpoint;
    this.sqlstate = sqlstate;
  }
}

/** What a unit of work needs of the Database: a structural type, as database.ts imports this module. */
export interface ConnectionSource {
  connect(): Promise<pg.PoolClient>;
}

export type TransactionResult<T> = { committed: true; value: T } | { committed: false; sqlstate: string };

/**
 * The SQLSTATE of a retryable error, even when application code wrapped it in its own
 * error (seed 003: a concurrent update re-raised as a ValidationError was never retried).
 */
export function findRetryableSqlstate(err: unknown, unwrap = true): string | undefined {
  return findRetryable(err, unwrap)?.sqlstate;
}

/**
 * The retryable database error inside `err` (itself, or with `unwrap` a `cause`): its SQLSTATE
 * and PostgreSQL's message.
 */
export function findRetryable(err: unknown, unwrap = true): { sqlstate: string; message: string } | undefined {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current && typeof current === 'object' && !seen.has(current) && (unwrap || seen.size === 0)) {
    seen.add(current);
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && RETRYABLE_SQLSTATES.has(code)) {
      return { sqlstate: code, message: typeof message === 'string' ? message : '' };
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Odoo sleeps uniform(0, 2^n) seconds before retry n; the base (1 s there) is configurable. */
export function backoffMs(retry: number, baseSeconds: number): number {
  return Math.random() * baseSeconds * 2 ** retry * 1000;
}

export async function runTransaction<T>(
  db: ConnectionSource,
  config: Pick<Config, 'isolation' | 'maxTries' | 'retryBase'> & Partial<Pick<Config, 'skipUnwrap'>>,
  metrics: Metrics,
  endpoint: string,
  work: (tx: Tx) => Promise<T>,
  onConflict: ConflictPolicy,
): Promise<TransactionResult<T>> {
  const maxTries = onConflict === 'retry' ? config.maxTries : 1;
  for (let attempt = 1; ; attempt++) {
    const client = await db.connect();
    const hooks: (() => Promise<unknown>)[] = [];
    let value: T;
    let commitSent = false;
    metrics.txAttempts.inc({ endpoint });
    try {
      await client.query(`BEGIN ISOLATION LEVEL ${ISOLATION_SQL[config.isolation]}`);
      value = await work({
        query: (sql, params) => client.query(sql, params),
        afterCommit: (hook) => hooks.push(hook),
      });
      commitSent = true;
      await client.query('COMMIT');
    } catch (err) {
      client.release(await rollback(client, err));
      const retryable = findRetryable(err, !config.skipUnwrap);
      if (!retryable) {
        const hidden = findRetryable(err);
        if (hidden) {
          // --skip-unwrap (seed 003): a conflict the user sees as an application error, counted as what it is.
          metrics.txFailures.inc({ endpoint, sqlstate: hidden.sqlstate });
          metrics.txFailureMessages.inc(hidden);
          metrics.txFinalFailures.inc({ endpoint, sqlstate: hidden.sqlstate });
          throw err;
        }
        const lost = connectionLost(err);
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))
          metrics.txFailures.inc({ endpoint, sqlstate: code });
        else if (lost) metrics.txFailures.inc({ endpoint, sqlstate: CONNECTION_FAILURE });
        // A COMMIT the server never answered may have taken effect: that unit is not run again.
        // No backoff: a fresh connection works at once after pg_terminate_backend, and while
        // PostgreSQL is down db.connect() fails at once with E_DATABASE_UNAVAILABLE.
        if (lost && !(commitSent && commitMayHaveArrived(err)) && attempt < maxTries) {
          countRetry(metrics, endpoint, attempt);
          continue;
        }
        throw lost ? errors.databaseUnavailable() : err;
      }
      const { sqlstate, message } = retryable;
      metrics.txFailures.inc({ endpoint, sqlstate });
      metrics.txFailureMessages.inc({ sqlstate, message });
      if (onConflict === 'raise') throw new RetryableConflict(endpoint, sqlstate);
      if (attempt >= maxTries) {
        metrics.txFinalFailures.inc({ endpoint, sqlstate });
        if (onConflict === 'give-up') return { committed: false, sqlstate };
        throw errors.conflict(endpoint, attempt, sqlstate);
      }
      countRetry(metrics, endpoint, attempt);
      await sleep(backoffMs(attempt, config.retryBase));
      continue;
    }
    client.release();
    metrics.txCommits.inc({ endpoint });
    for (const hook of hooks) await hook();
    return { committed: true, value };
  }
}

/**
 * Odoo 8.0's retry of a whole request: `run` is re-run when a unit of work inside it raised a
 * RetryableConflict, up to --max-tries runs with the same backoff as a transaction's retries;
 * then E_TX_CONFLICT. Counted like a transaction's retries, under the unit's endpoint.
 */
export async function retryWholeRequest<T>(
  config: Pick<Config, 'maxTries' | 'retryBase'>,
  metrics: Metrics,
  run: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof RetryableConflict)) throw err;
      const { endpoint, sqlstate } = err;
      if (attempt >= config.maxTries) {
        metrics.txFinalFailures.inc({ endpoint, sqlstate });
        throw errors.conflict(endpoint, attempt, sqlstate);
      }
      countRetry(metrics, endpoint, attempt);
      await sleep(backoffMs(attempt, config.retryBase));
    }
  }
}

/**
 * Retry `attempt` of a unit of work. The unit counts as retried (pgbench's "number of
 * transactions retried", whether it then commits or fails) at its first retry, not when it
 * ends, so in any window retried units <= retries <= failed attempts.
 */
function countRetry(metrics: Metrics, endpoint: string, attempt: number): void {
  metrics.txRetries.inc({ endpoint });
  if (attempt === 1) metrics.txRetried.inc({ endpoint });
}

/**
 * Whether a COMMIT that failed may have reached the server. pg refuses a query on a client
 * whose connection already broke without sending it, so that COMMIT never left: the unit was
 * rolled back, as one cut before COMMIT. (Measured under `--faults backend-kill`: of the units
 * cut at COMMIT, some were cut while idle just before it.)
 */
function commitMayHaveArrived(err: unknown): boolean {
  return !/not queryable/.test(err instanceof Error ? err.message : '');
}

/** Rolls back; returns the error when the connection itself is unusable, so the pool drops it. */
async function rollback(client: pg.PoolClient, cause: unknown): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch {
    return cause instanceof Error ? cause : new Error(String(cause));
  }
}
