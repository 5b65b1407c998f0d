// The database ends a connection while a request holds it between two queries (a restart, an
// admin shutdown, pg_terminate_backend): the request gets a 503 it can act on, and the process
// that served it stays up and serves the next request. Before, the checked-out pg client's
// 'error' event had no listener and the serving process died (issue 13, F6).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { eventually, login, metric, metrics, poll, request, sql, startLayout } from './helpers.js';

/** cluster-fork is where the crash took every worker down; single-process lost the whole layout. */
const LAYOUTS = ['single-process', 'cluster-fork'] as const;

describe('a connection the database ends mid-request', () => {
  for (const topology of LAYOUTS) {
    test(`${topology}: the request gets 503 E_DATABASE_UNAVAILABLE with Retry-After and the process serves on`, async () => {
      // One worker, so the next request must reach the process whose connection was cut.
      const layout = await startLayout(topology, ['--pool-size', '1', '--workers', '1']);
      const locker = new pg.Client({ connectionString: layout.databaseUrl });
      await locker.connect();
      try {
        const token = await login(layout, 'user1');
        // The poll's presence write waits on this lock, holding the pool's only connection.
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE presence IN ACCESS EXCLUSIVE MODE');
        const stuck = poll(layout, token, ['channel:1'], 0, 0);
        const [held] = await eventually(async () => {
          const rows = await sql<{ pid: number }>(
            layout.databaseUrl,
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'busbench/%/http/%' AND wait_event_type = 'Lock'",
          );
          return rows.length > 0 ? rows : undefined;
        });
        assert.ok(held);
        await sql(layout.databaseUrl, 'SELECT pg_terminate_backend($1)', [held.pid]);
        const cut = await stuck;
        assert.equal(cut.status, 503, cut.text);
        assert.equal((cut.body as unknown as { error: { code: string } }).error.code, 'E_DATABASE_UNAVAILABLE');
        assert.ok(Number(cut.headers['retry-after']) > 0);
        await locker.query('COMMIT');
        const after = await request('GET', `${layout.url}/channels`, { token });
        assert.equal(after.status, 200, after.text);
        assert.equal((await poll(layout, token, ['channel:1'], 0, 0)).status, 200);
        assert.equal(layout.child.exitCode, null, 'the layout is still running');
        assert.equal(metric(await metrics(layout), 'busbench_worker_restarts_total'), 0, 'no process died');
      } finally {
        await locker.end().catch(() => {});
        assert.equal(await layout.stop(), 0, layout.log());
      }
    });
  }
});
