// What a wake-up costs, and where parked polls wait. A broadcast to N parked polls costs N
// fetch queries per-waiter (Odoo up to 15) and one in shared dispatch; in worker-threads a
// parked poll holds its thread, so the next request queues until a thread frees up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, login, metric, metrics, poll, post, request, startLayout } from './helpers.js';

const TABS = 8;

async function broadcastCost(dispatch: string) {
  const layout = await startLayout('single-process', ['--dispatch', dispatch]);
  try {
    const tokens: string[] = [];
    for (let i = 1; i <= TABS; i++) tokens.push(await login(layout, `user${i}`));
    const { last } = (await poll(layout, tokens[0] ?? '', ['channel:1'], 0, 0)).body;
    const parked = tokens.map((token) => poll(layout, token, ['channel:1'], last, 20));
    await eventually(async () =>
      metric(await metrics(layout), 'busbench_bus_parked_polls') === TABS ? true : undefined,
    );
    assert.equal((await post(layout, tokens[0] ?? '', 1, 'to everyone')).status, 201);
    for (const reply of await Promise.all(parked)) {
      assert.deepEqual(
        reply.body.notifications.map((n) => n.payload.message.body),
        ['to everyone'],
      );
    }
    const text = await metrics(layout);
    return {
      wakeups: metric(text, 'busbench_bus_wakeups_total', { dispatch }),
      woken: metric(text, 'busbench_bus_waiters_woken_total', { dispatch }),
      queries: metric(text, 'busbench_bus_fetch_queries_total', { dispatch, reason: 'wakeup' }),
    };
  } finally {
    assert.equal(await layout.stop(), 0, layout.log());
  }
}

describe('bus dispatch', () => {
  test('per-waiter: a broadcast to N parked polls costs N fetch queries', async () => {
    const cost = await broadcastCost('per-waiter');
    assert.deepEqual(cost, { wakeups: 1, woken: TABS, queries: TABS });
  });

  test('shared: the same broadcast costs one fetch query for the whole process', async () => {
    const cost = await broadcastCost('shared');
    assert.deepEqual(cost, { wakeups: 1, woken: TABS, queries: 1 });
  });
});

describe('worker-threads', () => {
  test('parked polls hold their threads: the next request queues until one is free', async () => {
    const layout = await startLayout('worker-threads', ['--threads', '2']);
    try {
      const token = await login(layout, 'user1');
      const polls = [
        poll(layout, token, ['channel:1'], 1_000_000, 2),
        poll(layout, token, ['channel:1'], 1_000_000, 2),
      ];
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_bus_parked_polls') === 2 ? true : undefined,
      );
      const started = Date.now();
      const queued = request('GET', `${layout.url}/channels`, { token });
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_queued_requests') === 1 ? true : undefined,
      );
      assert.equal((await queued).status, 200);
      assert.ok(Date.now() - started > 1000, 'answered only once a parked poll gave its thread back');
      for (const reply of await Promise.all(polls)) assert.equal(reply.status, 200);
      assert.equal(metric(await metrics(layout), 'busbench_queued_requests'), 0);
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });
});
