// `busbench db-exporter`: the database side of a run for Prometheus. It runs beside a layout,
// never inside one, so its connection is no layout's cost - and it leaves that connection
// out of what it reports. Everything is read at scrape time, like postgres_exporter does;
// the names follow busbench's conventions (busbench_db_*, _total for counters).
import pg from 'pg';
import client from 'prom-client';
import { connectionGroups, databaseCounters, lockWaits } from './db-stats.js';
import { type MetricsServer, serveMetrics } from './metrics-server.js';

export interface DbExporterOptions {
  databaseUrl: string;
  host?: string;
  /**
   * 0 (the default here) picks a free port, so an exporter the bench starts per case never
   * collides with another run's; `busbench db-exporter` passes its --port (9187).
   */
  port?: number;
}

const APPLICATION_NAME = 'busbench/db-exporter';
/** Three queries must answer within a scrape timeout (5 s in deploy/prometheus). */
const QUERY_TIMEOUT_MS = 1500;

/** busbench/<topology>/<role>/<n> -> topology, so dashboards can filter the layout's connections. */
function topologyOf(applicationName: string): string {
  const parts = applicationName.split('/');
  return parts[0] === 'busbench' && parts.length === 4 ? (parts[1] ?? '') : '';
}

export async function startDbExporter(options: DbExporterOptions): Promise<MetricsServer> {
  const registry = new client.Registry();
  const registers = [registry];
  const up = new client.Gauge({ name: 'busbench_db_up', help: '1 if the last scrape reached PostgreSQL', registers });
  const connections = new client.Gauge({
    name: 'busbench_db_connections',
    help: 'Client connections to the database by application_name and state (pg_stat_activity)',
    labelNames: ['datname', 'application_name', 'topology', 'state'],
    registers,
  });
  const waits = new client.Gauge({
    name: 'busbench_db_lock_waits',
    help: 'Backends waiting for a lock another transaction holds',
    labelNames: ['datname'],
    registers,
  });
  const counter = (name: string, help: string) =>
    new client.Counter({ name, help, labelNames: ['datname'], registers });
  const commits = counter('busbench_db_xact_commit_total', 'Transactions committed (pg_stat_database)');
  const rollbacks = counter('busbench_db_xact_rollback_total', 'Transactions rolled back (pg_stat_database)');
  const deadlocks = counter('busbench_db_deadlocks_total', 'Deadlocks detected (pg_stat_database)');

  let db: pg.Client | undefined;
  const datname = new URL(options.databaseUrl).pathname.slice(1) || 'postgres';

  async function connect(): Promise<pg.Client> {
    if (db) return db;
    const fresh = new pg.Client({
      connectionString: options.databaseUrl,
      application_name: APPLICATION_NAME,
      query_timeout: QUERY_TIMEOUT_MS,
    });
    // A lost connection is reported as busbench_db_up 0 and opened again at the next scrape.
    fresh.on('error', () => {
      if (db === fresh) db = undefined;
    });
    await fresh.connect();
    db = fresh;
    return fresh;
  }

  async function refresh(): Promise<void> {
    try {
      const c = await connect();
      const [groups, waiting, totals] = [await connectionGroups(c), await lockWaits(c), await databaseCounters(c)];
      connections.reset();
      for (const g of groups) {
        const labels = {
          datname,
          application_name: g.applicationName,
          topology: topologyOf(g.applicationName),
          state: g.state,
        };
        connections.set(labels, g.count);
      }
      waits.set({ datname }, waiting);
      // PostgreSQL keeps the running totals; the counters mirror them.
      for (const [metric, value] of [
        [commits, totals.commits],
        [rollbacks, totals.rollbacks],
        [deadlocks, totals.deadlocks],
      ] as const) {
        metric.reset();
        metric.inc({ datname }, value);
      }
      up.set(1);
    } catch (err) {
      up.set(0);
      const lost = db;
      db = undefined;
      await lost?.end().catch(() => {});
      console.error(`[busbench] db-exporter: ${(err as Error).message}`);
    }
  }

  const server = await serveMetrics(registry, { host: options.host, port: options.port ?? 0, prepare: refresh });
  return {
    url: server.url,
    async close() {
      await server.close();
      await db?.end().catch(() => {});
    },
  };
}
