// What a wake-up costs. A broadcast to N parked polls costs N fetch queries per-waiter (Odoo
// up to 15) and one in shared dispatch. Where worker-threads parks its polls: threaded.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, login, metric, metrics, poll, post, startLayout } from './helpers.js';

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
