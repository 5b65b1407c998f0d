// The post schedule during the ramp: posts due while the browsers are still opening go out as
// their author's browser opens (as a k6 VU sends them), not all together once the ramp ends.
// A burst at the ramp's end made every app pool open one connection per post in it (16 in
// the default profile), which pools keep for their 60 s idle timeout: dedicated-longpoll's
// DB connection peak read 27 where the load it measured needs 13-15.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROFILES } from '../loadtests/lib/profiles.js';
import { Runner } from '../src/bench/runner.js';
import { sql, startLayout } from './helpers.js';

test('posts due during the ramp are committed while the ramp runs, not held back until its end', async () => {
  const layout = await startLayout('single-process', ['--poll-timeout', '2']);
  const tabs = PROFILES.tabs;
  assert.ok(tabs, 'profile tabs');
  const runner = new Runner(
    {
      ...tabs,
      users: 10,
      browsersPerUser: 1,
      tabsPerBrowser: 1,
      channels: 5,
      channelsPerUser: 1,
      pollTimeout: 2,
      // One post every 200 ms from the case's start: 15 due during the 3 s ramp.
      rate: 5,
      arrivals: 'fixed',
      warmup: 6,
      duration: 2,
    },
    { appUrl: layout.url, busUrl: layout.busUrl, runTag: 'ramp-posts' },
  );
  try {
    const rampMs = 3000;
    await runner.start(rampMs, Date.now());
    const rampEnded = Date.now();
    runner.setPhase('measure');
    await runner.drain(5000);
    const rows = await sql<{ early: number; total: number }>(
      layout.databaseUrl,
      `SELECT count(*) FILTER (WHERE created_at < to_timestamp($1 / 1000.0))::int AS early, count(*)::int AS total
         FROM messages`,
      [rampEnded - 500],
    );
    const { early = 0, total = 0 } = rows[0] ?? {};
    assert.ok(total >= 15, `the posts of the schedule were made (${total})`);
    // Browsers open over the ramp; the posts due in its first 2.5 s whose author had opened
    // by then are already committed half a second before it ends. Held back, none would be.
    assert.ok(early >= 3, `${early} of ${total} posts committed over 500 ms before the ramp ended`);
  } finally {
    await runner.stop();
    await runner.close();
    assert.equal(await layout.stop(), 0, layout.log());
  }
});
