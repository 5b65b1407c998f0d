// The chat page's tab modes in real headless Chromium against a real layout: how many polls
// the server holds per browser, whether every tab shows every post once, what happens when a
// tab (the leader) closes; and `busbench bench --browser` end to end.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { deliveryOf, type SentPost } from '../src/bench/browser-delivery.js';
import { postFrom, type Received, type TabState, tabState } from '../src/bench/browser-tabs.js';
import { formatBrowser } from '../src/bench/compare.js';
import { renderReport } from '../src/bench/report.js';
import type { BrowserResult } from '../src/bench/results.js';
import { validateRun } from '../src/bench/run-file.js';
import type { TabModeName } from '../web/tab-state.js';
import { browserBench, type OneBrowser, openBrowser, renderInChromium, skipWithoutChromium } from './chromium.js';
import { sampleRun } from './fixtures.js';
import { eventually, type Layout, metric, metrics, startLayout } from './helpers.js';

const GENERAL = 1;
const TABS = 10;
/** Long enough that a parked poll is still parked when /metrics is read, short enough for 7th tabs to open. */
const POLL_TIMEOUT = ['--poll-timeout', '10'];
const DELIVERY_TIMEOUT_MS = 30_000;

async function states(tabs: Page[]): Promise<TabState[]> {
  return Promise.all(tabs.map(tabState));
}

async function pollsInFlight(tabs: Page[]): Promise<number> {
  return (await states(tabs)).reduce((n, s) => n + s.pollsInFlight, 0);
}

function received(all: TabState[]): Map<string, Received[]> {
  return new Map(all.map((s, i) => [String(i), s.received]));
}

/** Posts from the given tabs (by index) to "general"; every tab in `audience` must show each post. */
async function postFromTabs(tabs: Page[], from: number[], audience: number[], tag: string): Promise<SentPost[]> {
  return Promise.all(
    from.map(async (i, n) => {
      const clientId = `${tag}-${n}`;
      const status = await postFrom(tabs[i] as Page, GENERAL, `from tab ${i}`, clientId);
      return { clientId, status, audience: audience.map(String) };
    }),
  );
}

/** Waits until every tab shows every post (or the timeout), then asserts each exactly once. */
async function assertEachShownOnce(tabs: Page[], posts: SentPost[]): Promise<void> {
  assert.deepEqual(
    posts.map((p) => p.status),
    posts.map(() => 201),
  );
  const shown = async () => (deliveryOf(posts, received(await states(tabs))).lost === 0 ? true : undefined);
  await eventually(shown, DELIVERY_TIMEOUT_MS).catch(() => undefined);
  const now = await states(tabs);
  const delivery = deliveryOf(posts, received(now));
  const missing = now
    .map((s, i) => ({ tab: i, last: s.last, pollsInFlight: s.pollsInFlight, count: s.received.length }))
    .filter((_, i) => posts.some((p) => !now[i]?.received.some((r) => r.clientId === p.clientId)));
  assert.equal(delivery.lost, 0, `tabs missing posts: ${JSON.stringify(missing)}`);
  assert.equal(delivery.duplicated, 0);
  assert.equal(delivery.delivered, posts.length * (posts[0]?.audience.length ?? 0));
}

/** Parked polls on the server over `ms`: every read, so a second poll even for a moment shows. */
async function parkedOver(layout: Layout, ms: number): Promise<number[]> {
  const seen: number[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    seen.push(metric(await metrics(layout), 'busbench_bus_parked_polls'));
    await sleep(200);
  }
  return seen;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** One layout and one browser of TABS tabs in `mode`, both closed whatever `check` does. */
async function withBrowser(mode: TabModeName, check: (layout: Layout, one: OneBrowser) => Promise<void>) {
  const layout = await startLayout('single-process', POLL_TIMEOUT);
  try {
    const one = await openBrowser(layout, mode, TABS);
    try {
      await check(layout, one);
    } finally {
      await one.close();
    }
  } finally {
    await layout.stop();
  }
}

test('leader mode: ten tabs of a browser hold one poll; closing the leader hands over within 2 s and loses nothing', async (t) => {
  if (skipWithoutChromium(t)) return;
  await withBrowser('leader', async (layout, one) => {
    const before = await states(one.tabs);
    const leaders = range(TABS).filter((i) => before[i]?.isLeader);
    assert.equal(leaders.length, 1, `leaders: ${leaders.join(', ')}`);
    // Between an answer and the next poll the leader has none out for a moment.
    await eventually(async () => ((await pollsInFlight(one.tabs)) === 1 ? true : undefined));
    const parked = await parkedOver(layout, 3000);
    assert.equal(Math.max(...parked), 1, `parked polls seen: ${parked.join(' ')}`);

    await assertEachShownOnce(one.tabs, await postFromTabs(one.tabs, [1, 4, 7, 9], range(TABS), 'before'));

    const leader = leaders[0] as number;
    const others = range(TABS).filter((i) => i !== leader);
    const closedAt = Date.now();
    await one.tabs[leader]?.close();
    const remaining = others.map((i) => one.tabs[i] as Page);
    const posted = await postFromTabs(remaining, [0], range(remaining.length), 'after');
    await assertEachShownOnce(remaining, posted);
    const successor = await eventually(async () => {
      const now = await states(remaining);
      const found = now.filter((s) => s.isLeader);
      return found.length === 1 ? found[0] : undefined;
    });
    assert.ok(successor.leaderSince !== null, 'the new leader says since when');
    assert.ok(successor.leaderSince - closedAt < 2000, `new leader after ${successor.leaderSince - closedAt} ms`);
    // The earlier posts are still shown once: the new leader resumed from the last id, not from 0.
    const all = await states(remaining);
    assert.equal(deliveryOf([], received(all)).duplicated, 0);
    assert.deepEqual(
      all.map((s) => s.received.length),
      all.map(() => 5),
    );
    assert.equal(Math.max(...(await parkedOver(layout, 1000))), 1, 'still one poll for the browser');
    assert.deepEqual(one.errors, [], 'uncaught errors in the page');
  });
});

test('shared-worker mode: ten tabs hold one poll, every tab shows each post once, and closing a tab changes nothing', async (t) => {
  if (skipWithoutChromium(t)) return;
  await withBrowser('shared-worker', async (layout, one) => {
    assert.equal(await pollsInFlight(one.tabs), 0, 'no tab polls: the worker does');
    const parked = await parkedOver(layout, 3000);
    assert.equal(Math.max(...parked), 1, `parked polls seen: ${parked.join(' ')}`);

    await assertEachShownOnce(one.tabs, await postFromTabs(one.tabs, [0, 3, 6, 9], range(TABS), 'before'));

    await one.tabs[0]?.close();
    const remaining = one.tabs.slice(1);
    await assertEachShownOnce(remaining, await postFromTabs(remaining, [2, 5], range(remaining.length), 'after'));
    assert.equal(Math.max(...(await parkedOver(layout, 1000))), 1, 'still one poll for the browser');
    assert.deepEqual(one.errors, [], 'uncaught errors in the page');
  });
});

test("every-tab mode: ten tabs have ten polls in flight, the server holds six, and four wait in Chromium's connection pool", async (t) => {
  if (skipWithoutChromium(t)) return;
  await withBrowser('every-tab', async (layout, one) => {
    // A poll answered at its timeout leaves the server for a moment before the tab sends the next.
    const seen = await eventually(async () => {
      const [text, all] = await Promise.all([metrics(layout), states(one.tabs)]);
      const figures = {
        inFlight: all.reduce((n, s) => n + s.pollsInFlight, 0),
        parked: metric(text, 'busbench_bus_parked_polls'),
        sockets: metric(text, 'busbench_http_open_sockets'),
      };
      return figures.inFlight === TABS && figures.parked === 6 ? figures : undefined;
    }, 15_000);
    // 6 connections of the browser plus the one /metrics arrived on.
    assert.equal(seen.sockets, 7);
    const parked = await parkedOver(layout, 3000);
    assert.ok(Math.max(...parked) <= 6, `never more than 6 parked: ${parked.join(' ')}`);
    assert.deepEqual(one.errors, [], 'uncaught errors in the page');
  });
});

test('busbench bench --browser writes a valid run with a real-browser entry, and its report shows the table', async (t) => {
  if (skipWithoutChromium(t)) return;
  const bench = await browserBench([
    '--layouts',
    'single-process',
    '--browser-modes',
    'leader',
    '--browser-count',
    '1',
    '--browser-tabs',
    '3',
  ]);
  t.after(bench.cleanUp);
  const { stdout, dir, run } = bench;
  assert.deepEqual(run.cases, []);
  const [entry, ...more] = run.browser ?? [];
  assert.ok(entry, 'a browser entry');
  assert.equal(more.length, 0);
  assert.equal(entry.id, 'single-process leader');
  assert.equal(entry.tabs_per_browser, 3);
  assert.equal(entry.parked_polls, 1);
  assert.equal(entry.lost, 0);
  assert.equal(entry.duplicated, 0);
  assert.ok(entry.expected >= 5 * 3 + 2, `expected ${entry.expected}`);
  assert.ok(entry.handover_ms !== null && entry.handover_ms < 5000, `handover ${entry.handover_ms} ms`);
  assert.match(stdout, /single-process leader +3 /);
  const html = await readFile(path.join(dir, 'report.html'), 'utf8');
  assert.match(html, /<h2>Real browser tabs<\/h2>/);
  assert.match(html, /<th>single-process leader<\/th>/);
  const rendered = await renderInChromium(path.join(dir, 'report.html'));
  assert.deepEqual(rendered.consoleErrors, []);
  assert.deepEqual(rendered.pageErrors, []);
});

function browserEntry(mode: TabModeName, overrides: Partial<BrowserResult> = {}): BrowserResult {
  return {
    id: `single-process ${mode}`,
    topology: 'single-process',
    mode,
    server_config: { topology: 'single-process', pollTimeout: 10 },
    browsers: 2,
    tabs_per_browser: 10,
    ready_ms: 4200,
    polls_in_flight: 2,
    parked_polls: 2,
    parked_polls_per_browser: 1,
    open_sockets: 12,
    sockets_per_browser: 6,
    window_seconds: 2.5,
    presence_writes: 4,
    serialization_failures: 0,
    posts: 11,
    posts_failed: 0,
    expected: 218,
    delivered: 218,
    lost: 0,
    duplicated: 0,
    delivery_ms: 900,
    handover_ms: 300,
    warnings: [],
    ...overrides,
  };
}

test('a run of real browsers only validates, and its report has the browser table and no empty case sections', () => {
  const run = {
    ...sampleRun(),
    cases: [],
    browser: [browserEntry('leader'), browserEntry('every-tab', { lost: 2, handover_ms: null })],
  };
  assert.equal(validateRun(run), run);
  const { html, svgs } = renderReport(run);
  assert.equal(svgs.length, 0);
  assert.match(html, /<h2>Real browser tabs<\/h2>/);
  assert.match(html, /Lost or duplicated<\/b>: single-process every-tab lost 2/);
  assert.doesNotMatch(html, /<h2>Verdict<\/h2>|<h2>Every figure<\/h2>/);
  const table = formatBrowser(run.browser).trimEnd().split('\n');
  assert.equal(table.length, 3);
  assert.match(table[2] ?? '', /^single-process every-tab +20 +4\.2 .* 2 +0 +900 +-$/);
});

test('a simulated run with no browser entries renders as before, without the browser section', () => {
  const { html } = renderReport(sampleRun());
  assert.match(html, /<h2>Verdict<\/h2>/);
  assert.doesNotMatch(html, /Real browser tabs/);
  assert.throws(() => validateRun({ ...sampleRun(), browser: [{ ...browserEntry('leader'), mode: 'leader-tab' }] }));
});
