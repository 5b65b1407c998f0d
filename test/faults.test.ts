// Faults a layout must survive: the database ends a connection while a request holds it
// between two queries (a restart, an admin shutdown, pg_terminate_backend), and a worker that
// keeps dying. Before, the checked-out pg client's unheard 'error' killed the serving process,
// and the cluster primary restarted a dying worker as fast as it could fork (issue 13, F6, F7).
// Now the unit runs again on a fresh connection while it has tries left, and 503s when not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { restartDelayMs } from '../src/topologies/cluster/primary.js';
import {
  blockPresenceWrite,
  descendants,
  eventually,
  login,
  metric,
  metrics,
  poll,
  request,
  sql,
  startLayout,
} from './helpers.js';

/** cluster-fork is where the crash took every worker down; single-process lost the whole layout. */
const LAYOUTS = ['single-process', 'cluster-fork'] as const;

describe('a connection the database ends mid-request', () => {
  for (const topology of LAYOUTS) {
    test(`${topology}: a unit with no try left gets 503 E_DATABASE_UNAVAILABLE with Retry-After and the process serves on`, async () => {
      // One worker, so the next request must reach the process whose connection was cut;
      // one try, so the cut unit cannot run again.
      const layout = await startLayout(topology, ['--pool-size', '1', '--workers', '1', '--max-tries', '1']);
      let blocked: Awaited<ReturnType<typeof blockPresenceWrite>> | undefined;
      try {
        const token = await login(layout, 'user1');
        // The poll's presence write waits on a lock, holding the pool's only connection.
        blocked = await blockPresenceWrite(layout, token);
        await sql(layout.databaseUrl, 'SELECT pg_terminate_backend($1)', [blocked.pid]);
        const cut = await blocked.stuck;
        assert.equal(cut.status, 503, cut.text);
        assert.equal((cut.body as unknown as { error: { code: string } }).error.code, 'E_DATABASE_UNAVAILABLE');
        assert.ok(Number(cut.headers['retry-after']) > 0);
        await blocked.release();
        const after = await request('GET', `${layout.url}/channels`, { token });
        assert.equal(after.status, 200, after.text);
        assert.equal((await poll(layout, token, ['channel:1'], 0, 0)).status, 200);
        assert.equal(layout.child.exitCode, null, 'the layout is still running');
        assert.equal(metric(await metrics(layout), 'busbench_worker_restarts_total'), 0, 'no process died');
      } finally {
        await blocked?.release();
        assert.equal(await layout.stop(), 0, layout.log());
      }
    });

    test(`${topology}: a unit cut before its COMMIT runs again on a fresh connection and the request succeeds`, async () => {
      const layout = await startLayout(topology, ['--pool-size', '1', '--workers', '1']);
      let blocked: Awaited<ReturnType<typeof blockPresenceWrite>> | undefined;
      try {
        const token = await login(layout, 'user1');
        blocked = await blockPresenceWrite(layout, token);
        const cutPid = blocked.pid;
        await sql(layout.databaseUrl, 'SELECT pg_terminate_backend($1)', [cutPid]);
        // The retry waits on the same lock from another backend: the unit really ran again.
        await eventually(async () => {
          const rows = await sql<{ pid: number }>(
            layout.databaseUrl,
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'busbench/%/http/%' AND wait_event_type = 'Lock'",
          );
          return rows.some((row) => row.pid !== cutPid) ? true : undefined;
        });
        await blocked.release();
        const answer = await blocked.stuck;
        assert.equal(answer.status, 200, answer.text);
        const text = await metrics(layout);
        assert.equal(metric(text, 'busbench_tx_retries_total', { endpoint: 'presence.poll' }), 1);
        assert.equal(metric(text, 'busbench_tx_failures_total', { endpoint: 'presence.poll', sqlstate: '57P01' }), 1);
        assert.equal(metric(text, 'busbench_worker_restarts_total'), 0, 'no process died');
      } finally {
        await blocked?.release();
        assert.equal(await layout.stop(), 0, layout.log());
      }
    });
  }
});

describe('a worker that keeps dying', () => {
  test('the cluster primary restarts it with a growing delay, counting every restart (F7)', async () => {
    assert.deepEqual([0, 1, 2, 3, 10].map(restartDelayMs), [0, 500, 1000, 2000, 30_000]);
    const layout = await startLayout('cluster-fork', ['--workers', '1']);
    try {
      // Each new worker dies at once, as one would while PostgreSQL is down.
      for (let restarts = 1; restarts <= 3; restarts++) {
        const [victim] = descendants(layout.child.pid ?? 0);
        assert.ok(victim);
        process.kill(victim, 'SIGKILL');
        await eventually(async () => {
          const [worker] = descendants(layout.child.pid ?? 0);
          return worker && worker !== victim ? true : undefined;
        }, 15_000);
      }
      const delays = [...layout.log().matchAll(/restarting it in (\d+) ms/g)].map((m) => Number(m[1]));
      assert.deepEqual(delays, [500, 1000, 2000], layout.log());
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_worker_restarts_total') === 3 ? true : undefined,
      );
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });
});
