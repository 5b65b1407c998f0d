// The flags that model the seeds' bugs (issue 14), each off by default and each doing what its
// documentation says: NOTIFY before commit leaves a woken poll with nothing to fetch (002); a
// conflict re-raised as a validation error is not retried (003); a hot-row membership change
// waits on the channel row's lock (003); without cache signaling another process decides on
// its stale cache (004); without KeepLast or the Mutex the chat page shows an older channel
// and stores posts out of order (001).
// Seed (SMALL_DATA): users 1-20 all in channel 1; user3 also in channel 5.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { launchChromium, tabUrl } from '../src/bench/browser-tabs.js';
import { loadConfig } from '../src/lib/server-options.js';
import { skipWithoutChromium } from './chromium.js';
import { eventually, type Layout, login, metric, metrics, poll, post, request, sql, startLayout } from './helpers.js';

const GENERAL = 1;

async function withLayout<T>(topology: string, flags: string[], run: (layout: Layout) => Promise<T>): Promise<T> {
  const layout = await startLayout(topology, flags);
  try {
    return await run(layout);
  } finally {
    await layout.stop();
  }
}

test('every seed flag is off by default', () => {
  const config = loadConfig({}, {});
  assert.equal(config.notifyBeforeCommit, false);
  assert.equal(config.skipUnwrap, false);
  assert.equal(config.membershipWrite, 'membership-only');
  assert.equal(config.cacheSignaling, 'on');
});

/** Empty wake-ups after 10 posts, each to 4 parked polls of channel 1 (a poll left empty waits out its 1 s). */
async function emptyWakeups(flags: string[]): Promise<number> {
  return withLayout('single-process', ['--pool-size', '20', ...flags], async (layout) => {
    const tokens = await Promise.all(['user1', 'user2', 'user3', 'user4'].map((u) => login(layout, u)));
    const poster = await login(layout, 'user5');
    for (let i = 0; i < 10; i++) {
      const [newest] = await sql<{ last: number }>(
        layout.databaseUrl,
        'SELECT coalesce(max(id), 0)::int AS last FROM bus_notifications',
      );
      const polls = tokens.map((t) => poll(layout, t, [`channel:${GENERAL}`], newest?.last ?? 0, 1));
      // Parked before the post: the poll's wake-up is the NOTIFY's.
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_bus_parked_polls') >= 4 ? true : undefined,
      );
      assert.equal((await post(layout, poster, GENERAL, `m${i}`)).status, 201);
      await Promise.all(polls);
    }
    return metric(await metrics(layout), 'busbench_bus_empty_wakeups_total');
  });
}

describe('--notify-before-commit (seed 002)', () => {
  test('wakes polls before the row is visible: empty wake-ups, none after commit', async (t) => {
    const before = await emptyWakeups(['--notify-before-commit', 'true']);
    const after = await emptyWakeups([]);
    t.diagnostic(`empty wake-ups of 40: before commit ${before}, after commit ${after}`);
    assert.ok(before > 0, `NOTIFY before commit: ${before} empty wake-ups`);
    assert.equal(after, 0);
  });
});

/** 8 users toggle 8 others' membership of channel 1 at once, 8 rounds: replies by status and chat.members counters. */
async function membershipStorm(layout: Layout) {
  const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => login(layout, `user${i + 1}`)));
  const statuses: Record<string, number> = {};
  const count = (status: number) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
  };
  for (let round = 0; round < 8; round++) {
    await Promise.all(
      tokens.map(async (token, i) => {
        const target = 11 + i;
        count((await request('DELETE', `${layout.url}/channels/${GENERAL}/members/${target}`, { token })).status);
        const added = await request('POST', `${layout.url}/channels/${GENERAL}/members`, {
          token,
          body: { user_id: target },
        });
        count(added.status);
      }),
    );
  }
  const text = await metrics(layout);
  const endpoint = { endpoint: 'chat.members' };
  return {
    statuses,
    serialization: metric(text, 'busbench_tx_failures_total', { ...endpoint, sqlstate: '40001' }),
    final: metric(text, 'busbench_tx_final_failures_total', endpoint),
  };
}

describe('membership writes (seed 003)', () => {
  test('--skip-unwrap leaves a conflict re-raised as a validation error unretried: 422s and final failures', async (t) => {
    const flags = ['--membership-write', 'hot-row', '--pool-size', '20', '--max-tries', '20'];
    const unwrapped = await withLayout('single-process', flags, membershipStorm);
    const skipped = await withLayout('single-process', [...flags, '--skip-unwrap', 'true'], membershipStorm);
    t.diagnostic(`unwrapped ${JSON.stringify(unwrapped)}; skip-unwrap ${JSON.stringify(skipped)}`);
    assert.ok(unwrapped.serialization > 0, 'hot-row changes of one channel conflict');
    assert.equal(unwrapped.final, 0);
    assert.equal(unwrapped.statuses[422], undefined);
    assert.ok(skipped.final > 0);
    assert.equal(skipped.statuses[422], skipped.final, 'each final failure reached the user as 422 E_VALIDATION');
  });

  test('membership-only changes of one channel do not conflict', async () => {
    const r = await withLayout('single-process', ['--pool-size', '20'], membershipStorm);
    assert.equal(r.serialization, 0, JSON.stringify(r));
  });

  test('a hot-row change waits on the channel row a concurrent transaction holds; membership-only does not', async () => {
    for (const mode of ['membership-only', 'hot-row'] as const) {
      await withLayout('single-process', ['--membership-write', mode], async (layout) => {
        const token = await login(layout, 'user1');
        const locker = new pg.Client({ connectionString: layout.databaseUrl, application_name: 'test/locker' });
        await locker.connect();
        try {
          await locker.query('BEGIN');
          // What a concurrent hot-row change holds until it commits.
          await locker.query('UPDATE channels SET write_date = now() WHERE id = $1', [GENERAL]);
          const removal = request('DELETE', `${layout.url}/channels/${GENERAL}/members/12`, { token });
          if (mode === 'membership-only') {
            assert.equal((await removal).status, 200);
          } else {
            await eventually(async () => {
              const rows = await sql(
                layout.databaseUrl,
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name LIKE 'busbench/%'",
              );
              return rows.length > 0 ? true : undefined;
            });
            await locker.query('COMMIT');
            assert.equal((await removal).status, 200);
          }
        } finally {
          await locker.end();
        }
      });
    }
  });
});

/** user2, cached in both workers as a member of channel 1, is removed; then reads it on new connections. */
async function readsAfterRemoval(layout: Layout): Promise<{ statuses: number[]; checks: number }> {
  const [admin, member] = await Promise.all([login(layout, 'user1'), login(layout, 'user2')]);
  const read = async () =>
    (await request('GET', `${layout.url}/channels/${GENERAL}/messages?limit=1`, { token: member })).status;
  for (let i = 0; i < 6; i++) assert.equal(await read(), 200);
  assert.equal((await request('DELETE', `${layout.url}/channels/${GENERAL}/members/2`, { token: admin })).status, 200);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push(await read());
  return { statuses, checks: metric(await metrics(layout), 'busbench_cache_checks_total') };
}

describe('--cache-signaling (seed 004)', () => {
  test('off: another worker keeps authorizing a removed member; on: every read after the removal is refused', async (t) => {
    const off = await withLayout('cluster-fork', ['--cache-signaling', 'off'], readsAfterRemoval);
    const on = await withLayout('cluster-fork', [], readsAfterRemoval);
    t.diagnostic(`off ${JSON.stringify(off)}; on ${JSON.stringify(on)}`);
    assert.ok(off.statuses.includes(200), 'a stale authorization with signaling off');
    assert.equal(off.checks, 0, 'no signaling query with signaling off');
    assert.deepEqual(on.statuses, [403, 403, 403, 403, 403, 403]);
    assert.ok(on.checks >= 13, 'one signaling query per request');
  });
});

describe('the page without KeepLast or the Mutex (seed 001)', () => {
  test('keeplast=off shows the older channel when its answer comes last; mutex=off stores posts out of order', async (t) => {
    if (skipWithoutChromium(t)) return;
    await withLayout('single-process', [], async (layout) => {
      const browser = await launchChromium();
      try {
        const run = async (switches: string) => {
          const page = await browser.newPage();
          await page.goto(`${tabUrl(layout.url, 'user3', 'every-tab')}&channel=${GENERAL}${switches}`);
          await page.waitForFunction(`document.getElementById('messages').dataset.channelId === '${GENERAL}'`);
          // The first request of each kind answers 800 ms late, the second at once.
          const seen = new Map<string, number>();
          await page.route(/\/channels\/\d+\/messages/, async (route) => {
            const key = route.request().method();
            const n = (seen.get(key) ?? 0) + 1;
            seen.set(key, n);
            if (n === 1) await new Promise((r) => setTimeout(r, 800));
            await route.continue();
          });
          await page.click('#channels button[data-channel-id="5"]');
          await page.click(`#channels button[data-channel-id="${GENERAL}"]`);
          const tag = `t${Date.now()}`;
          await page.evaluate(
            `Promise.all([busbench.post(5, '${tag} first', '${tag}-1'), busbench.post(5, '${tag} second', '${tag}-2')])`,
          );
          await new Promise((r) => setTimeout(r, 1500));
          const shown = await page.evaluate<string>("document.getElementById('messages').dataset.channelId");
          const stored = await sql<{ client_id: string }>(
            layout.databaseUrl,
            'SELECT client_id FROM messages WHERE client_id LIKE $1 ORDER BY id',
            [`${tag}-%`],
          );
          await page.close();
          return { shown, order: stored.map((r) => r.client_id.slice(tag.length + 1)).join(',') };
        };
        const both = await run('');
        const without = await run('&keeplast=off&mutex=off');
        t.diagnostic(`with: ${JSON.stringify(both)}; without: ${JSON.stringify(without)}`);
        assert.deepEqual(both, { shown: String(GENERAL), order: '1,2' });
        assert.deepEqual(without, { shown: '5', order: '2,1' });
      } finally {
        await browser.close();
      }
    });
  });
});
