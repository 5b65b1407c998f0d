// Presence writes from polls: one row per user, written by every tab of that user, so tabs
// of one user collide on it (seed 000). Each strategy is what one Odoo version did.
import type { PollRetryScope, PresenceStrategy } from '../lib/server-options.js';
import type { Database } from './database.js';
import type { Tx } from './transaction.js';

export type PresenceStatus = 'online' | 'away' | 'offline';

/** What each strategy does, after the Odoo version that did it (the README's profile table quotes these). */
export const PRESENCE_STRATEGY_DOCS: Record<PresenceStrategy, string> = {
  'every-poll': 'Odoo 9.0: read the row, then write it on every poll; conflicts are retried',
  throttled: 'Odoo 8.0: write only when last_poll is older than the interval or the status changed',
  'rollback-on-conflict': 'Odoo 12.0+: write on every poll, but on a conflict roll back and move on (no retry)',
  nowait: 'SELECT ... FOR UPDATE NOWAIT: skip the write when another request holds the row',
  upsert: 'one INSERT ... ON CONFLICT DO UPDATE ... WHERE stale statement: no read-then-write window',
};

/** Read-then-write as the ORM does it: the read takes the snapshot the write must not contradict. */
async function readThenWrite(tx: Tx, userId: number, status: PresenceStatus): Promise<void> {
  const { rowCount } = await tx.query('SELECT status, last_poll FROM presence WHERE user_id = $1', [userId]);
  if (rowCount === 0) {
    await tx.query('INSERT INTO presence (user_id, last_poll, last_presence, status) VALUES ($1, now(), now(), $2)', [
      userId,
      status,
    ]);
    return;
  }
  await tx.query(
    `UPDATE presence SET last_poll = now(), status = $2,
       last_presence = CASE WHEN $2 = 'online' THEN now() ELSE last_presence END
     WHERE user_id = $1`,
    [userId, status],
  );
}

/**
 * Records that `userId` polled with `status`. Returns whether the write committed (a skipped
 * or rolled-back write is not an error for the poll: Odoo answers the poll either way). With
 * `retry` 'whole-request' a retried strategy tries once and leaves the conflict to the
 * request's retry (db.wholeRequest, Odoo 8.0); with 'transaction' the write retries itself.
 */
export async function recordPoll(
  db: Database,
  strategy: PresenceStrategy,
  intervalSeconds: number,
  userId: number,
  status: PresenceStatus,
  retry: PollRetryScope = 'transaction',
): Promise<boolean> {
  const endpoint = 'presence.poll';
  const retried = <T>(work: (tx: Tx) => Promise<T>) =>
    retry === 'whole-request' ? db.raising(endpoint, work) : db.transaction(endpoint, work);
  switch (strategy) {
    case 'every-poll':
      await retried((tx) => readThenWrite(tx, userId, status));
      return true;
    case 'rollback-on-conflict':
      return (await db.attempt(endpoint, (tx) => readThenWrite(tx, userId, status))).committed;
    case 'throttled':
      await retried(async (tx) => {
        const { rows } = await tx.query<{ stale: boolean }>(
          `SELECT last_poll IS NULL OR last_poll < now() - make_interval(secs => $2) OR status <> $3 AS stale
             FROM presence WHERE user_id = $1`,
          [userId, intervalSeconds, status],
        );
        if (rows[0]?.stale !== false) await readThenWrite(tx, userId, status);
      });
      return true;
    case 'nowait':
      return (
        await db.attempt(endpoint, async (tx) => {
          await tx.query('SELECT 1 FROM presence WHERE user_id = $1 FOR UPDATE NOWAIT', [userId]);
          await readThenWrite(tx, userId, status);
        })
      ).committed;
    case 'upsert':
      await retried((tx) =>
        tx.query(
          `INSERT INTO presence AS p (user_id, last_poll, last_presence, status) VALUES ($1, now(), now(), $3)
             ON CONFLICT (user_id) DO UPDATE SET last_poll = now(), status = EXCLUDED.status,
               last_presence = CASE WHEN EXCLUDED.status = 'online' THEN now() ELSE p.last_presence END
             WHERE p.last_poll IS NULL OR p.last_poll < now() - make_interval(secs => $2) OR p.status <> EXCLUDED.status`,
          [userId, intervalSeconds, status],
        ),
      );
      return true;
  }
}

/** An explicit status change (POST /presence): always written, conflicts retried. */
export async function setPresence(db: Database, userId: number, status: PresenceStatus): Promise<void> {
  await db.transaction('presence.set', (tx) => readThenWrite(tx, userId, status));
}
