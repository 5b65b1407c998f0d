// A real PostgreSQL restart under load (issue 13). Before, it crashed serving processes:
// single-process died and stayed down, both cluster-fork workers crashed and so did
// dedicated-longpoll's bus process, and acknowledged posts were never delivered. This file
// starts its own embedded server, so stopping it does not disturb the other test files.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase, type PostgresServer, startEmbeddedPostgres } from '../src/lib/postgres.js';
import {
  eventually,
  type Layout,
  login,
  metric,
  metrics,
  type Polled,
  poll,
  post,
  request,
  sql,
  startLayout,
  TOPOLOGIES,
} from './helpers.js';

const DOWN_MS = 1500;

let server: PostgresServer;
before(async () => {
  server = await startEmbeddedPostgres({ dataDir: '.busbench/test-pg-restart', maxConnections: 200 });
});
after(() => server?.stop());

/** Polls channel 1 in a loop until stopped, collecting message bodies and when each arrived. */
function pollLoop(layout: Layout, token: string) {
  const received = new Map<string, number>();
  const failures: number[] = [];
  let stopped = false;
  let last = 0;
  const loop = (async () => {
    while (!stopped) {
      const reply = await request<Polled>('POST', `${layout.busUrl}/bus/poll`, {
        token,
        body: { channels: ['channel:1'], last, options: { timeout: 5 } },
        timeoutMs: 20_000,
      }).catch(() => undefined);
      if (reply?.status !== 200) {
        failures.push(reply?.status ?? 0);
        await sleep(200);
        continue;
      }
      for (const n of reply.body.notifications) {
        last = Math.max(last, n.id);
        if (n.payload.type === 'message' && !received.has(n.payload.message.body)) {
          received.set(n.payload.message.body, Date.now());
        }
      }
    }
  })();
  return {
    received,
    failures,
    last: () => last,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

describe('a PostgreSQL restart under load', () => {
  for (const topology of TOPOLOGIES) {
    test(`${topology}: answers 503 with Retry-After while it is down, loses no acknowledged post, LISTENs again and stays up`, async () => {
      const databaseUrl = await createDatabase(server.adminUrl, `restart_${randomBytes(4).toString('hex')}`);
      const layout = await startLayout(topology, [], { DATABASE_URL: databaseUrl });
      const poller = pollLoop(layout, await login(layout, 'user2'));
      try {
        const token = await login(layout, 'user1');
        const acked = new Map<string, number>();
        const refusals: { status: number; code: string | undefined; retryAfter: string | undefined }[] = [];
        let posting = true;
        const poster = (async () => {
          for (let i = 0; posting && i < 2000; i++) {
            const body = `m${i}`;
            const reply = await post(layout, token, 1, body).catch(() => undefined);
            if (reply?.status === 201) acked.set(body, Date.now());
            else {
              const code = (reply?.body as { error?: { code?: string } } | undefined)?.error?.code;
              refusals.push({ status: reply?.status ?? 0, code, retryAfter: reply?.headers['retry-after'] });
            }
            await sleep(50);
          }
        })();
        await eventually(async () => (poller.received.size >= 3 ? true : undefined));
        const restartedAt = Date.now();
        await server.restart?.(DOWN_MS);
        // Posting recovers: an acknowledged post after the restart.
        await eventually(
          async () => ([...acked.values()].some((at) => at > restartedAt + DOWN_MS) ? true : undefined),
          20_000,
        );
        await sleep(1000);
        posting = false;
        await poster;
        await eventually(
          async () => ([...acked.keys()].every((b) => poller.received.has(b)) ? true : undefined),
          15_000,
        );
        // A poll parked after the restart is woken by NOTIFY on the reconnected LISTEN, long
        // before its 20 s timeout.
        const parked = poll(layout, await login(layout, 'user3'), ['channel:1'], poller.last(), 20);
        await sleep(1000);
        const late = `after-${topology}`;
        assert.equal((await post(layout, token, 1, late)).status, 201);
        const postedAt = Date.now();
        const woken = await parked;
        assert.ok(Date.now() - postedAt < 5000, `the parked poll answered ${Date.now() - postedAt} ms after the post`);
        assert.ok(
          woken.body.notifications.some((n) => n.payload.message?.body === late),
          woken.text,
        );
        assert.ok(refusals.length > 0, 'some posts met the outage');
        for (const r of refusals) {
          assert.equal(r.status, 503, `a post during the outage: ${JSON.stringify(r)}`);
          assert.ok(Number(r.retryAfter) > 0, `Retry-After on ${JSON.stringify(r)}`);
        }
        assert.ok(
          refusals.some((r) => r.code === 'E_DATABASE_UNAVAILABLE'),
          JSON.stringify(refusals),
        );
        const listening = await sql(
          databaseUrl,
          "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'busbench/%/listen/%' AND query ILIKE 'LISTEN%'",
        );
        assert.ok(listening.length >= 1, 'the LISTEN connections are back');
        assert.equal(layout.child.exitCode, null, 'the layout is still running');
        assert.equal(metric(await metrics(layout), 'busbench_worker_restarts_total'), 0, 'no process died');
      } finally {
        await poller.stop();
        assert.equal(await layout.stop(), 0, layout.log());
      }
    });
  }
});
