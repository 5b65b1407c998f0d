// worker-threads as Odoo's threaded server: a parked poll waits in the main thread (the
// process's dispatcher) and holds no request thread, so logins and posts get a thread while
// polls are parked; the threads' pools are shares of one process-wide pool. With
// --poll-holds-thread a parked poll keeps its thread, and the next request queues for one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, type Layout, login, metric, metrics, poll, post, sql, startLayout } from './helpers.js';

/** Far ahead of every row: such a poll parks until its timeout or a post. */
const AHEAD = 1_000_000;

async function parked(layout: Layout, process?: string): Promise<number> {
  return metric(await metrics(layout), 'busbench_bus_parked_polls', process ? { process } : {});
}

/** The layout's database connections as PostgreSQL sees them (its pools and its LISTEN). */
async function connections(layout: Layout): Promise<number> {
  const rows = await sql<{ n: number }>(
    layout.databaseUrl,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'busbench/worker-threads/%'",
  );
  return rows[0]?.n ?? 0;
}

describe('worker-threads: a parked poll holds no request thread', () => {
  test('with one request thread, a parked poll leaves it free: a login and a post answer at once', async () => {
    const layout = await startLayout('worker-threads', ['--threads', '1']);
    try {
      const reader = await login(layout, 'user1');
      const { last } = (await poll(layout, reader, ['channel:1'], 0, 0)).body;
      const waiting = poll(layout, reader, ['channel:1'], last, 30);
      await eventually(async () => ((await parked(layout, 'main')) === 1 ? true : undefined));
      const started = Date.now();
      const writer = await login(layout, 'user2');
      assert.equal((await post(layout, writer, 1, 'while parked')).status, 201);
      // Queued behind the parked poll, both would wait for its 30 s timeout.
      assert.ok(Date.now() - started < 15_000, `login and post took ${Date.now() - started} ms`);
      const reply = await waiting;
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(
        reply.body.notifications.map((n) => n.payload.message.body),
        ['while parked'],
      );
      assert.equal(metric(await metrics(layout), 'busbench_queued_requests'), 0);
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });

  test('fifty polls park on two threads, and one post wakes every one of them with the message', async () => {
    const TABS = 50;
    const layout = await startLayout('worker-threads', ['--threads', '2', '--users', String(TABS)]);
    try {
      const tokens: string[] = [];
      for (let i = 1; i <= TABS; i++) tokens.push(await login(layout, `user${i}`));
      const { last } = (await poll(layout, tokens[0] ?? '', ['channel:1'], 0, 0)).body;
      const polls = tokens.map((token) => poll(layout, token, ['channel:1'], last, 40));
      // A poll counts as parked from before its first fetch, which may still wait for a thread.
      const settled = async () => {
        const text = await metrics(layout);
        const queued = metric(text, 'busbench_queued_requests');
        return metric(text, 'busbench_bus_parked_polls') === TABS && queued === 0 ? text : undefined;
      };
      const text = await eventually(settled, 30_000);
      assert.equal(metric(text, 'busbench_bus_parked_polls', { process: 'main' }), TABS, 'parked in the main thread');
      assert.equal((await post(layout, tokens[0] ?? '', 1, 'to all fifty')).status, 201);
      for (const reply of await Promise.all(polls)) {
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(
          reply.body.notifications.map((n) => n.payload.message.body),
          ['to all fifty'],
        );
      }
      assert.equal(await parked(layout), 0);
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });

  test('a poll sent together with a post answers with it, whether the post commits before, during or after its way to parking', async () => {
    const layout = await startLayout('worker-threads', ['--threads', '2']);
    try {
      const reader = await login(layout, 'user1');
      const writer = await login(layout, 'user2');
      let last = (await poll(layout, reader, ['channel:1'], 0, 0)).body.last;
      for (let round = 0; round < 10; round++) {
        // Sent together: the post commits before, during or after the poll's first fetch.
        const [reply, posted] = await Promise.all([
          poll(layout, reader, ['channel:1'], last, 20),
          post(layout, writer, 1, `race ${round}`),
        ]);
        assert.equal(posted.status, 201);
        assert.deepEqual(
          reply.body.notifications.map((n) => n.payload.message.body),
          [`race ${round}`],
          'a missed wake-up would leave the poll waiting for its 20 s timeout, then empty',
        );
        last = reply.body.last;
      }
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });

  test('the process holds at most pool + 1 LISTEN connections, however many threads share the pool', async () => {
    const POOL = 4;
    const TABS = 30;
    const layout = await startLayout('worker-threads', [
      '--threads',
      String(POOL),
      '--pool-size',
      String(POOL),
      '--users',
      String(TABS),
    ]);
    try {
      assert.match(layout.log(), /connection budget: 4 threads x 1 pool \(shares of --pool-size 4\) \+ 1 LISTEN = 5/);
      const tokens: string[] = [];
      for (let i = 1; i <= TABS; i++) tokens.push(await login(layout, `user${i}`));
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await connections(layout));
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      try {
        // Rounds of a herd: every tab parks, one post wakes them all, each fetches and polls again.
        let last = (await poll(layout, tokens[0] ?? '', ['channel:1'], 0, 0)).body.last;
        for (let round = 0; round < 3; round++) {
          const polls = tokens.map((token) => poll(layout, token, ['channel:1'], last, 40));
          await eventually(async () => ((await parked(layout)) === TABS ? true : undefined), 30_000);
          assert.equal((await post(layout, tokens[round] ?? '', 1, `round ${round}`)).status, 201);
          const replies = await Promise.all(polls);
          for (const reply of replies) assert.equal(reply.status, 200, reply.text);
          last = replies[0]?.body.last ?? last;
        }
      } finally {
        sampling = false;
        await sampler;
      }
      assert.ok(peak >= 2, `PostgreSQL saw the layout's connections (peak ${peak})`);
      assert.ok(peak <= POOL + 1, `peak ${peak} connections, more than --pool-size ${POOL} + 1 LISTEN`);
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });

  test('more threads than pooled connections is refused at start with E_CONFIG', async () => {
    await assert.rejects(
      startLayout('worker-threads', ['--threads', '12', '--pool-size', '10']),
      /--threads is 12, more than --pool-size 10/,
    );
  });
});

describe('worker-threads --poll-holds-thread: the fixed-thread-pool server', () => {
  test('a parked poll keeps its one thread: a second poll queues until the first returns', async () => {
    const layout = await startLayout('worker-threads', ['--threads', '1', '--poll-holds-thread', 'true']);
    try {
      assert.match(layout.log(), /connection budget: 1 threads x 10 pool/);
      const token = await login(layout, 'user1');
      const first = poll(layout, token, ['channel:1'], AHEAD, 3);
      await eventually(async () => ((await parked(layout)) === 1 ? true : undefined));
      assert.equal(await parked(layout, 'main'), 0, 'parked in its thread, not in the main thread');
      const started = Date.now();
      const second = poll(layout, token, ['channel:1'], AHEAD, 0);
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_queued_requests') === 1 ? true : undefined,
      );
      assert.equal((await second).status, 200);
      assert.ok(Date.now() - started > 1000, 'answered only once the parked poll gave its thread back');
      assert.equal((await first).status, 200);
      assert.equal(metric(await metrics(layout), 'busbench_queued_requests'), 0);
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });
});
