// Channel memberships cached per process, kept coherent across processes the way Odoo keeps
// its ormcache (seed 004): a writer bumps the cache_signaling sequence after its commit;
// every request reads the sequence at its start and clears the cache when it moved. So a
// process is stale for at most one request, at the cost of one query per request.
// --cache-signaling off drops both queries: a process then sees only its own changes, and
// every other process keeps deciding who may read a channel on what it cached before.
import type { CacheSignaling } from '../lib/server-options.js';
import type { Database } from './database.js';
import type { Metrics } from './metrics.js';
import type { Tx } from './transaction.js';

export class MembershipCache {
  readonly #db: Database;
  readonly #metrics: Metrics;
  readonly #signaling: CacheSignaling;
  readonly #channelsByUser = new Map<number, Set<number>>();
  #signal: number | undefined;

  constructor(db: Database, metrics: Metrics, signaling: CacheSignaling = 'on') {
    this.#db = db;
    this.#metrics = metrics;
    this.#signaling = signaling;
  }

  /** Called at the start of every request. */
  async check(): Promise<void> {
    if (this.#signaling === 'off') return;
    this.#metrics.cacheChecks.inc();
    // A fresh sequence reads last_value 1 both before and after its first nextval();
    // is_called tells the two apart.
    const { rows } = await this.#db.query<{ value: number }>(
      'SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS value FROM cache_signaling',
    );
    const value = rows[0]?.value;
    if (this.#signal !== undefined && value !== this.#signal) {
      this.#channelsByUser.clear();
      this.#metrics.cacheInvalidations.inc();
    }
    this.#signal = value;
  }

  async channelsOf(userId: number): Promise<Set<number>> {
    const cached = this.#channelsByUser.get(userId);
    if (cached) return cached;
    const { rows } = await this.#db.query<{ channel_id: number }>(
      'SELECT channel_id FROM channel_members WHERE user_id = $1',
      [userId],
    );
    const channels = new Set(rows.map((r) => r.channel_id));
    this.#channelsByUser.set(userId, channels);
    return channels;
  }

  /** In a transaction that changed memberships: signal every process once it committed. */
  invalidateAfterCommit(tx: Tx): void {
    tx.afterCommit(async () => {
      if (this.#signaling === 'off') {
        this.#channelsByUser.clear();
        return;
      }
      const { rows } = await this.#db.query<{ value: number }>("SELECT nextval('cache_signaling') AS value");
      this.#channelsByUser.clear();
      // Current up to its own bump; a later bump by another process moves the value on.
      this.#signal = rows[0]?.value;
    });
  }
}
