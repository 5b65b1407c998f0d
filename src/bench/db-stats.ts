// What PostgreSQL itself says about a run, asked the way a DBA would: who holds connections
// (pg_stat_activity by application_name and state) and the database's own counters
// (pg_stat_database). The bench's sampler and the Prometheus exporter both read it here.
import type pg from 'pg';

export interface ConnectionGroup {
  applicationName: string;
  state: string;
  count: number;
}

export interface DatabaseCounters {
  commits: number;
  rollbacks: number;
  deadlocks: number;
}

/** Client connections to this database, the asking connection left out. */
export async function connectionGroups(db: pg.ClientBase): Promise<ConnectionGroup[]> {
  const { rows } = await db.query<{ app: string; state: string; n: number }>(
    `SELECT coalesce(nullif(application_name, ''), '(unnamed)') AS app, coalesce(state, 'unknown') AS state,
            count(*)::int AS n
       FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
      GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return rows.map((r) => ({ applicationName: r.app, state: r.state, count: r.n }));
}

/** Connections per application_name, whatever their state. */
export function byApplication(groups: ConnectionGroup[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of groups) out[g.applicationName] = (out[g.applicationName] ?? 0) + g.count;
  return out;
}

/** Backends of this database waiting for a heavyweight lock (a row lock held by another transaction). */
export async function lockWaits(db: pg.ClientBase): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
  );
  return rows[0]?.n ?? 0;
}

export async function databaseCounters(db: pg.ClientBase): Promise<DatabaseCounters> {
  const { rows } = await db.query<{ xact_commit: string; xact_rollback: string; deadlocks: string }>(
    'SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE datname = current_database()',
  );
  const row = rows[0];
  return {
    commits: Number(row?.xact_commit),
    rollbacks: Number(row?.xact_rollback),
    deadlocks: Number(row?.deadlocks),
  };
}
