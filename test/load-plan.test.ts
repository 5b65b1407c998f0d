// What both load engines decide from loadtests/lib/load-plan.js: the post schedule, which
// tabs are hidden and for how long, and the measure window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HIDDEN_DELAY,
  hiddenPollDelayMs,
  hiddenTabs,
  isMeasured,
  MIN_POLL_CYCLES,
  measureWindow,
  pollCycleSeconds,
  postAuthors,
  postOffsets,
  seededRandom,
} from '../loadtests/lib/load-plan.js';
import { PROFILES, QUICK, quickProfile } from '../loadtests/lib/profiles.js';
import { BENCH_OPTIONS } from '../src/bench/options.js';
import { caseConfig, casesOf, resolveProfile } from '../src/bench/sweep.js';
import { loadOptions } from '../src/lib/options.js';
import { loadConfig } from '../src/lib/server-options.js';

test('a fixed clock has a post every 1/rate s through warm-up and measurement, both ends included', () => {
  const p = { rate: 4, warmup: 10, duration: 40, arrivals: 'fixed' as const, seed: 1 };
  const offsets = postOffsets(p);
  assert.equal(offsets.length, 201);
  assert.equal(offsets[0], 0);
  assert.equal(offsets[1], 250);
  assert.equal(offsets.at(-1), 50_000, 'the last post is due as the measurement ends');
  assert.equal(postOffsets({ ...p, rate: 3, warmup: 0.5, duration: 0.6 }).length, 5, 'a fractional post rounds up');
});

test('Poisson arrivals have exponential gaps: mean and variance 1/rate and 1/rate^2 over many posts', () => {
  const rate = 4;
  const offsets = postOffsets({ rate, warmup: 0, duration: 5000, arrivals: 'poisson', seed: 7 });
  const gaps = offsets.map((at, i) => (at - (offsets[i - 1] ?? 0)) / 1000);
  const n = gaps.length;
  assert.ok(Math.abs(n - rate * 5000) < 4 * Math.sqrt(rate * 5000), `count ${n} near ${rate * 5000}`);
  const mean = gaps.reduce((a, b) => a + b, 0) / n;
  const variance = gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / (n - 1);
  assert.ok(Math.abs(mean - 1 / rate) < 0.02 / rate, `mean gap ${mean} s`);
  assert.ok(Math.abs(variance - 1 / rate ** 2) < 0.05 / rate ** 2, `variance ${variance} s^2`);
  assert.ok(
    gaps.every((g) => g > 0),
    'no two posts at once',
  );
  assert.ok((offsets.at(-1) ?? 0) <= 5_000_000, 'no post after the run');
});

test('Poisson arrivals are the same for the same seed, and differ for another', () => {
  const p = { rate: 2, warmup: 3, duration: 30, arrivals: 'poisson' as const, seed: 42 };
  assert.deepEqual(postOffsets(p), postOffsets(p));
  assert.notDeepEqual(postOffsets(p), postOffsets({ ...p, seed: 43 }));
  const a = seededRandom(5);
  const b = seededRandom(5);
  for (let i = 0; i < 100; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
  }
});

test('a profile at rate 0 makes no posts, whatever the arrivals', () => {
  for (const arrivals of ['fixed', 'poisson'] as const) {
    assert.deepEqual(postOffsets({ rate: 0, warmup: 10, duration: 40, arrivals, seed: 1 }), []);
  }
});

test('posts arrive as a Poisson process by default, and on a fixed clock only by flag', () => {
  for (const p of Object.values(PROFILES)) assert.equal(p.arrivals, 'poisson', p.name);
  const bench = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) =>
    resolveProfile(loadOptions(BENCH_OPTIONS, flags, env));
  assert.equal(bench({}).arrivals, 'poisson');
  assert.equal(bench({ arrivals: 'fixed' }).arrivals, 'fixed');
  assert.equal(bench({}, { BUSBENCH_ARRIVALS: 'fixed' }).arrivals, 'fixed');
  assert.equal(bench({ seed: '9' }).seed, 9);
  assert.throws(() => bench({ arrivals: 'burst' }), /must be one of poisson, fixed/);
});

test('every measured window spans at least three poll cycles, with and without --quick', () => {
  assert.equal(MIN_POLL_CYCLES, 3);
  for (const p of Object.values(PROFILES)) {
    for (const [mode, q] of [
      ['normal', p],
      ['quick', quickProfile(p)],
    ] as const) {
      const cycle = pollCycleSeconds(q);
      assert.ok(q.duration >= 3 * cycle, `${p.name} (${mode}): ${q.duration} s window, ${cycle} s cycle`);
    }
    const viaFlag = resolveProfile(loadOptions(BENCH_OPTIONS, { profile: p.name, quick: 'true' }, {}));
    assert.ok(viaFlag.duration >= 3 * pollCycleSeconds(viaFlag), `${p.name}: --quick as the bench resolves it`);
    assert.ok(viaFlag.warmup <= QUICK.warmup, `${p.name}: --quick keeps the short warm-up`);
  }
});

test('a poll cycle is the poll timeout, plus the longest sleep of a hidden tab that slows down', () => {
  const p = { pollTimeout: 50, hiddenDelay: [4, 1, 20] as [number, number, number], tabsPerBrowser: 3 };
  assert.equal(pollCycleSeconds({ ...p, hiddenSlowdown: false, windowsPerBrowser: 1 }), 50);
  assert.equal(pollCycleSeconds({ ...p, hiddenSlowdown: true, windowsPerBrowser: 1 }), 74);
  assert.equal(pollCycleSeconds({ ...p, hiddenSlowdown: true, windowsPerBrowser: 3 }), 50, 'no tab is hidden');
});

test('each browser window shows one tab and hides the rest', () => {
  const visible = (tabsPerBrowser: number, windowsPerBrowser: number) =>
    hiddenTabs({ tabsPerBrowser, windowsPerBrowser }).flatMap((h, i) => (h ? [] : [i]));
  assert.deepEqual(visible(20, 2), [0, 10]);
  assert.deepEqual(visible(3, 1), [0]);
  assert.deepEqual(visible(3, 2), [0, 2]);
  assert.deepEqual(visible(4, 4), [0, 1, 2, 3]);
  assert.deepEqual(visible(2, 5), [0, 1], 'no more windows than tabs');
  for (let tabs = 1; tabs <= 25; tabs++) {
    for (let windows = 1; windows <= tabs; windows++) {
      const v = visible(tabs, windows);
      assert.equal(v.length, windows, `${tabs} tabs in ${windows} windows`);
      assert.equal(v[0], 0, 'tab 0 (the leader in leader mode) is visible');
    }
  }
  for (const p of Object.values(PROFILES)) {
    const shown = hiddenTabs(p).filter((h) => !h).length;
    assert.equal(shown, Math.min(p.windowsPerBrowser, p.tabsPerBrowser), `${p.name}: one visible tab per window`);
  }
});

test('the seed 000 profiles: Odoo 8.0 presence and whole-request retry, 20 tabs, hidden-tab slowdown off and on', () => {
  const off = PROFILES['seed-000'];
  const on = PROFILES['seed-000-slow-hidden'];
  assert.ok(off && on);
  for (const p of [off, on]) {
    assert.equal(p.presence, 'throttled');
    assert.equal(p.presenceInterval, 50, '8.0 rewrites presence when last_poll is older than TIMEOUT');
    assert.equal(p.pollTimeout, 50);
    assert.equal(p.tabsPerBrowser, 20);
    assert.equal(p.connectionsPerOrigin, 6);
    assert.equal(p.tabMode, 'every-tab', '8.0: every tab polls');
    assert.equal(p.retryPreset, 'odoo-8.0');
    const opts = loadOptions(BENCH_OPTIONS, { profile: p.name }, {});
    const resolved = resolveProfile(opts);
    const server = loadConfig({}, {});
    const [first] = casesOf(opts, resolved, server);
    assert.ok(first);
    const config = caseConfig(server, resolved, first);
    assert.equal(config.presence, 'throttled');
    assert.equal(config.presenceInterval, 50);
    assert.equal(config.pollRetry, 'whole-request');
    assert.equal(config.retryBase, 1, "Odoo's backoff base");
    assert.equal(config.maxTries, 5);
  }
  assert.equal(off.hiddenSlowdown, false);
  assert.equal(on.hiddenSlowdown, true);
  assert.equal(hiddenTabs(off).filter((h) => h).length, 18, 'two windows: 18 of 20 tabs hidden');
  const quick = quickProfile(off);
  assert.equal(quick.presenceInterval, quick.pollTimeout, '--quick shortens the 8.0 interval with the poll timeout');
});

test('other profiles leave the retry settings to the server flags', () => {
  const opts = loadOptions(BENCH_OPTIONS, {}, {});
  const resolved = resolveProfile(opts);
  const server = loadConfig({ retryBase: '0.05' }, {});
  const [first] = casesOf(opts, resolved, server);
  assert.ok(first);
  const config = caseConfig(server, resolved, first);
  assert.equal(config.pollRetry, 'transaction');
  assert.equal(config.retryBase, 0.05);
});

test('a hidden tab waits 4 s plus 1 to 20 s between polls', () => {
  assert.deepEqual(HIDDEN_DELAY, [4, 1, 20]);
  assert.equal(hiddenPollDelayMs(HIDDEN_DELAY, 0), 5000);
  assert.equal(hiddenPollDelayMs(HIDDEN_DELAY, 0.5), 14_500);
  const longest = hiddenPollDelayMs(HIDDEN_DELAY, 0.999_999);
  assert.ok(longest < 24_000 && longest > 23_999, `longest: ${longest}`);
});

test('the measure window follows the warm-up and holds its start but not its end', () => {
  const w = measureWindow(1000, { warmup: 2, duration: 3 });
  assert.deepEqual(w, { start: 3000, end: 6000 });
  assert.equal(isMeasured(2999, w), false, 'warm-up');
  assert.equal(isMeasured(3000, w), true);
  assert.equal(isMeasured(5999, w), true);
  assert.equal(isMeasured(6000, w), false, 'drain');
});

test('both engines make the same posts: seeded authors, each browser as likely as any, picked independently', () => {
  const p = { seed: 1, users: 60, browsersPerUser: 1, tabsPerBrowser: 3 };
  const authors = postAuthors(p, 6000);
  assert.deepEqual(authors, postAuthors(p, 6000), 'the same seed, the same authors');
  assert.deepEqual(postAuthors(p, 10), authors.slice(0, 10), 'the first authors do not depend on how many posts');
  assert.notDeepEqual(postAuthors({ ...p, seed: 2 }, 10), authors.slice(0, 10));
  const perBrowser = new Array(60).fill(0);
  for (const a of authors) {
    perBrowser[a.browser]++;
    assert.ok(a.tab >= 0 && a.tab < 3 && a.channel >= 0 && a.channel < 1);
  }
  // 100 posts per browser on average: Poisson-like counts, not the exact 100 each of posts handed out in turn.
  assert.ok(Math.min(...perBrowser) >= 60 && Math.max(...perBrowser) <= 140, perBrowser.join(' '));
  assert.ok(new Set(perBrowser).size > 10, 'browsers post unevenly, as independent people do');
  // 60 posts reach about 60 x (1 - 1/e) = 38 distinct browsers, not 60.
  const reached = new Set(authors.slice(0, 60).map((a) => a.browser)).size;
  assert.ok(reached >= 30 && reached <= 46, `${reached} browsers made the first 60 posts`);
});
