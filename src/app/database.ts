// The connection pool of one serving process or thread. Every connection is named
// busbench/<topology>/<role>/<index> so pg_stat_activity shows which process holds it.
import pg from 'pg';
import { errors } from '../lib/errors.js';
import type { Config } from '../lib/server-options.js';
import type { Metrics } from './metrics.js';
import { connectionLost } from './sqlstates.js';
import { retryWholeRequest, runTransaction, type TransactionResult, type Tx } from './transaction.js';

// int8 (count(*), bigserial) as a JS number: ids stay far below 2^53 in any run.
pg.types.setTypeParser(20, Number);

export type Role = 'http' | 'bus' | 'listen' | 'admin';

export function applicationName(config: Pick<Config, 'topology'>, role: Role, index: number): string {
  return `busbench/${config.topology}/${role}/${index}`;
}

export class Database {
  readonly pool: pg.Pool;
  readonly #config: Config;
  readonly #metrics: Metrics;

  constructor(config: Config, metrics: Metrics, role: Role, index: number) {
    this.#config = config;
    this.#metrics = metrics;
    this.pool = new pg.Pool({
      connectionString: config.databaseUrl,
      application_name: applicationName(config, role, index),
      max: config.poolSize,
      connectionTimeoutMillis: Math.max(1, config.poolTimeout * 1000),
      // Odoo keeps its pooled connections; closing idle ones quickly would hide the
      // connection cost of a layout between bursts.
      idleTimeoutMillis: 60_000,
    });
    // An idle client's error (server restart, pg_terminate_backend) is emitted on the pool;
    // without a listener it would kill the process.
    this.pool.on('error', (err) => console.error(`[busbench] idle pool connection lost: ${err.message}`));
    // A client checked out by a request has no pool listener: when the server ends its
    // connection between two queries, the 'error' it emits would kill the process. The
    // request learns of it from its failing query (E_DATABASE_UNAVAILABLE) and releases the
    // client as broken, so this listener only has to keep the process up.
    this.pool.on('connect', (client) =>
      client.on('error', (err) => console.error(`[busbench] pooled connection lost: ${err.message}`)),
    );
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query<R>(sql, params);
      } catch (err) {
        // A one-statement query is its own transaction, and every one busbench sends is a read
        // or harmless twice (NOTIFY: one more wake-up, and polls fetch by id; the bus's garbage
        // collection; a cache-signaling nextval: one more invalidation). So one whose connection
        // the server ended (pg_terminate_backend) runs once more on a fresh connection; while
        // PostgreSQL is down that fails at once, with E_DATABASE_UNAVAILABLE.
        if (attempt === 1 && connectionLost(err)) continue;
        throw this.mapConnectError(err);
      }
    }
  }

  async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.mapConnectError(err);
    }
  }

  /** A unit of work retried on conflicts up to --max-tries; then E_TX_CONFLICT (409). */
  async transaction<T>(endpoint: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    const result = await runTransaction(this, this.#config, this.#metrics, endpoint, work, 'retry');
    if (!result.committed) throw new Error('unreachable: a retried transaction throws on its last failure');
    return result.value;
  }

  /** One try; a conflict rolls back and is reported, not thrown (Odoo 12+ presence). */
  attempt<T>(endpoint: string, work: (tx: Tx) => Promise<T>): Promise<TransactionResult<T>> {
    return runTransaction(this, this.#config, this.#metrics, endpoint, work, 'give-up');
  }

  /** One try; a conflict is thrown as a RetryableConflict for wholeRequest() to retry (Odoo 8.0). */
  async raising<T>(endpoint: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    const result = await runTransaction(this, this.#config, this.#metrics, endpoint, work, 'raise');
    if (!result.committed) throw new Error('unreachable: a raising transaction throws on a conflict');
    return result.value;
  }

  /** Runs a whole request, re-run on a conflict in one of its raising() units (Odoo 8.0's service retry). */
  wholeRequest<T>(run: () => Promise<T>): Promise<T> {
    return retryWholeRequest(this.#config, this.#metrics, run);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Turns "no connection to be had" and "the database went away" into 503s the client can act on. */
  private mapConnectError(err: unknown): unknown {
    const message = err instanceof Error ? err.message : '';
    const code = (err as { code?: string }).code;
    if (message.includes('timeout exceeded when trying to connect') || code === '53300') {
      return errors.poolExhausted(this.#config.poolTimeout);
    }
    return connectionLost(err) ? errors.databaseUnavailable() : err;
  }
}
