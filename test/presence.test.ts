// Serialization failures are real: several tabs of one user poll at once and each poll
// writes that user's one presence row. Under every-poll at REPEATABLE READ PostgreSQL
// answers 40001 and the helper retries; the other strategies avoid most of it. All numbers
// come from the layout's /metrics, as a run would report them.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { type Layout, login, metric, metrics, poll, startLayout } from './helpers.js';

const TABS = 10;
const ROUNDS = 15;

/** ROUNDS bursts of TABS simultaneous polls by one user; returns the presence counters. */
async function storm(layout: Layout) {
  const token = await login(layout, 'user1');
  for (let round = 0; round < ROUNDS; round++) {
    const replies = await Promise.all(Array.from({ length: TABS }, () => poll(layout, token, ['channel:1'], 0, 0)));
    for (const r of replies) assert.equal(r.status, 200, r.text);
  }
  const text = await metrics(layout);
  const endpoint = { endpoint: 'presence.poll' };
  return {
    attempts: metric(text, 'busbench_tx_attempts_total', endpoint),
    commits: metric(text, 'busbench_tx_commits_total', endpoint),
    serialization: metric(text, 'busbench_tx_failures_total', { ...endpoint, sqlstate: '40001' }),
    lockNotAvailable: metric(text, 'busbench_tx_failures_total', { ...endpoint, sqlstate: '55P03' }),
    retries: metric(text, 'busbench_tx_retries_total', endpoint),
    final: metric(text, 'busbench_tx_final_failures_total', endpoint),
  };
}

async function measure(t: TestContext, presence: string, isolation = 'repeatable-read') {
  const layout = await startLayout('single-process', [
    '--presence',
    presence,
    '--isolation',
    isolation,
    '--pool-size',
    String(TABS),
    '--max-tries',
    '10',
    '--presence-interval',
    '60',
  ]);
  try {
    const counts = await storm(layout);
    t.diagnostic(`${presence} at ${isolation}: ${JSON.stringify(counts)}`);
    return counts;
  } finally {
    await layout.stop();
  }
}

describe('presence under many tabs of one user', () => {
  const results: Record<string, Awaited<ReturnType<typeof storm>>> = {};

  test('every-poll at repeatable-read raises real 40001s, retried and counted', async (t) => {
    const r = await measure(t, 'every-poll');
    results['every-poll'] = r;
    assert.ok(r.serialization > 0, JSON.stringify(r));
    assert.ok(r.retries > 0, JSON.stringify(r));
    assert.equal(r.attempts, r.commits + r.serialization + r.lockNotAvailable, 'every attempt accounted for');
    assert.equal(r.commits, TABS * ROUNDS - r.final, 'each poll commits once unless it gave up');
  });

  test('upsert and throttled conflict less than every-poll', async (t) => {
    results.upsert = await measure(t, 'upsert');
    results.throttled = await measure(t, 'throttled');
    const base = results['every-poll']?.serialization ?? 0;
    for (const name of ['upsert', 'throttled']) {
      const r = results[name];
      assert.ok(r && r.serialization < base, `${name}: ${JSON.stringify(r)} vs every-poll ${base}`);
    }
  });

  test('rollback-on-conflict never retries; its conflicts end as rolled-back writes', async (t) => {
    const r = await measure(t, 'rollback-on-conflict');
    assert.equal(r.retries, 0);
    assert.equal(r.final, r.serialization, JSON.stringify(r));
    assert.equal(r.attempts, TABS * ROUNDS);
  });

  test('nowait skips the write when another poll holds the row (55P03), without retrying', async (t) => {
    const r = await measure(t, 'nowait');
    assert.equal(r.retries, 0);
    assert.ok(r.lockNotAvailable + r.serialization > 0, JSON.stringify(r));
    assert.equal(r.commits + r.final, TABS * ROUNDS);
  });

  test('serializable (Websauna) conflicts too, and read-committed does not', async (t) => {
    const serializable = await measure(t, 'every-poll', 'serializable');
    assert.ok(serializable.serialization > 0, JSON.stringify(serializable));
    const readCommitted = await measure(t, 'every-poll', 'read-committed');
    assert.equal(readCommitted.serialization, 0, JSON.stringify(readCommitted));
    assert.equal(readCommitted.commits, TABS * ROUNDS);
  });
});
