// The LISTEN connection dies (pg_terminate_backend) while polls are parked, and messages
// are posted before it is back. PostgreSQL does not replay NOTIFYs sent while nobody
// listened, so the dispatcher must reconnect, LISTEN again and wake every waiter to fetch
// by id: every tab still gets every message, exactly once and in order.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  eventually,
  type Layout,
  login,
  metric,
  metrics,
  poll,
  post,
  sql,
  startLayout,
  TOPOLOGIES,
} from './helpers.js';

const TABS = 4;

/** A tab: polls in a loop from its cursor and keeps every message body it sees. */
function tab(layout: Layout, token: string, seen: string[], stop: () => boolean, start: number): Promise<void> {
  return (async () => {
    let last = start;
    while (!stop()) {
      const reply = await poll(layout, token, ['channel:1'], last, 5);
      assert.equal(reply.status, 200, reply.text);
      for (const n of reply.body.notifications) seen.push(n.payload.message.body);
      last = reply.body.last;
    }
  })();
}

for (const topology of TOPOLOGIES) {
  describe(`LISTEN connection lost: ${topology}`, () => {
    test('every parked tab still receives every message once, in order', async () => {
      const layout = await startLayout(topology);
      try {
        const tokens = await Promise.all(Array.from({ length: TABS }, (_, i) => login(layout, `user${i + 1}`)));
        const start = (await poll(layout, tokens[0] ?? '', ['channel:1'], 0, 0)).body.last;
        const seen: string[][] = tokens.map(() => []);
        const expected = ['m1', 'm2', 'm3', 'm4', 'm5'];
        let done = false;
        const tabs = tokens.map((t, i) => tab(layout, t, seen[i] ?? [], () => done, start));
        await eventually(async () =>
          metric(await metrics(layout), 'busbench_bus_parked_polls') >= TABS ? true : undefined,
        );

        const killed = await sql<{ ok: boolean }>(
          layout.databaseUrl,
          `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
           WHERE datname = current_database() AND application_name LIKE 'busbench/%/listen/%'`,
        );
        assert.ok(killed.length >= 1 && killed.every((k) => k.ok));
        // Posted while the LISTEN connection is down: their NOTIFYs reach nobody.
        for (const body of expected) assert.equal((await post(layout, tokens[0] ?? '', 1, body)).status, 201);

        await eventually(async () => (seen.every((s) => s.length >= expected.length) ? true : undefined), 15_000);
        done = true;
        await Promise.all(tabs);
        for (const s of seen) assert.deepEqual(s, expected);
        assert.ok(metric(await metrics(layout), 'busbench_bus_listen_reconnects_total') >= 1);
      } finally {
        assert.equal(await layout.stop(), 0, layout.log());
      }
    });
  });
}
