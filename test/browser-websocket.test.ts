// The chat page on the websocket transport (?transport=websocket) in real headless Chromium:
// in shared-worker mode the SharedWorker holds one websocket for the browser's ten tabs, as
// Odoo 16's does, and fans out exactly as it does poll answers; a bus process that dies is
// reconnected to from the last id; every-tab and leader hold a socket per tab and per browser.
// And `busbench bench --browser --transport websocket` end to end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { deliveryOf, type SentPost } from '../src/bench/browser-delivery.js';
import { postFrom, type TabState, tabState } from '../src/bench/browser-tabs.js';
import { browserBench, openBrowser, skipWithoutChromium } from './chromium.js';
import { eventually, type Layout, metric, metrics, request, startLayout } from './helpers.js';

const GENERAL = 1;
const TABS = 10;
const POLL_TIMEOUT = ['--poll-timeout', '10'];
const DELIVERY_TIMEOUT_MS = 30_000;

const states = (tabs: Page[]): Promise<TabState[]> => Promise.all(tabs.map(tabState));
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function postFromTabs(tabs: Page[], from: number[], tag: string): Promise<SentPost[]> {
  return Promise.all(
    from.map(async (i, n) => {
      const clientId = `${tag}-${n}`;
      const status = await postFrom(tabs[i] as Page, GENERAL, `from tab ${i}`, clientId);
      return { clientId, status, audience: range(tabs.length).map(String) };
    }),
  );
}

/** Waits until every tab shows every post (or the timeout), then asserts each exactly once. */
async function assertEachShownOnce(tabs: Page[], posts: SentPost[]): Promise<void> {
  assert.deepEqual(
    posts.map((p) => p.status),
    posts.map(() => 201),
  );
  const receivedNow = async () => new Map((await states(tabs)).map((s, i) => [String(i), s.received]));
  await eventually(
    async () => (deliveryOf(posts, await receivedNow()).lost === 0 ? true : undefined),
    DELIVERY_TIMEOUT_MS,
  ).catch(() => undefined);
  const delivery = deliveryOf(posts, await receivedNow());
  assert.equal(delivery.lost, 0, `${delivery.lost} of ${delivery.expected} (post, tab) deliveries missing`);
  assert.equal(delivery.duplicated, 0);
  assert.equal(delivery.delivered, posts.length * tabs.length);
  const all = await states(tabs);
  assert.deepEqual(
    all.map((s) => s.duplicates),
    all.map(() => 0),
    'no tab got a notification twice',
  );
}

interface Seen {
  websockets: number[];
  parked: number[];
}

/** The server's open websockets and parked polls over `ms`: every read, so a second socket even for a moment shows. */
async function over(layout: Layout, ms: number): Promise<Seen> {
  const seen: Seen = { websockets: [], parked: [] };
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const text = await metrics(layout);
    seen.websockets.push(metric(text, 'busbench_ws_open_sockets'));
    seen.parked.push(metric(text, 'busbench_bus_parked_polls'));
    await sleep(200);
  }
  return seen;
}

function assertOneSocketNoPoll(seen: Seen, when: string): void {
  assert.deepEqual(new Set(seen.websockets), new Set([1]), `${when}: websockets seen ${seen.websockets.join(' ')}`);
  assert.deepEqual(new Set(seen.parked), new Set([0]), `${when}: parked polls seen ${seen.parked.join(' ')}`);
}

for (const topology of ['single-process', 'dedicated-longpoll'] as const) {
  test(`shared-worker on websockets, ${topology}: ten tabs hold one websocket and no poll, each post shows once in every tab, also after tabs close`, async (t) => {
    if (skipWithoutChromium(t)) return;
    const layout = await startLayout(topology, POLL_TIMEOUT);
    try {
      const one = await openBrowser(layout, 'shared-worker', TABS, 'websocket');
      try {
        const before = await states(one.tabs);
        assert.deepEqual(new Set(before.map((s) => s.transport)), new Set(['websocket']));
        assert.equal(
          before.reduce((n, s) => n + s.pollsInFlight, 0),
          0,
          'no tab polls',
        );
        await eventually(async () =>
          metric(await metrics(layout), 'busbench_ws_open_sockets') === 1 ? true : undefined,
        );
        assertOneSocketNoPoll(await over(layout, 2000), 'ten tabs open');

        await assertEachShownOnce(one.tabs, await postFromTabs(one.tabs, [0, 3, 6, 9], 'before'));

        // Half the tabs close, the first (which started the worker) among them.
        await Promise.all(one.tabs.slice(0, 5).map((tab) => tab.close()));
        const remaining = one.tabs.slice(5);
        await assertEachShownOnce(remaining, await postFromTabs(remaining, [1, 4], 'after'));
        assertOneSocketNoPoll(await over(layout, 1000), 'five tabs closed');
        const text = await metrics(layout);
        assert.equal(metric(text, 'busbench_ws_subscriptions_total'), 1, 'one subscribe: the socket never reopened');
        assert.equal(metric(text, 'busbench_http_requests_total', { endpoint: 'bus.poll' }), 0, 'no poll at all');

        if (topology === 'dedicated-longpoll') {
          // The bus process dies: the worker's socket goes with it. A post made meanwhile (the
          // workers take it) reaches every tab once the worker has reconnected and resubscribed
          // from its last id, and nothing earlier comes twice.
          const health = await request<{ pid: number; process: string }>('GET', `${layout.url}/bus/healthz`);
          assert.equal(health.body.process, 'bus', health.text);
          process.kill(health.body.pid, 'SIGKILL');
          await assertEachShownOnce(remaining, await postFromTabs(remaining, [2], 'bus-down'));
          await eventually(async () =>
            metric(await metrics(layout), 'busbench_ws_open_sockets') === 1 ? true : undefined,
          );
          assertOneSocketNoPoll(await over(layout, 1000), 'after the bus process restarted');
          const restarted = await request<{ pid: number }>('GET', `${layout.url}/bus/healthz`);
          assert.notEqual(restarted.body.pid, health.body.pid, 'a new bus process holds the socket');
          const all = await states(remaining);
          assert.deepEqual(
            all.map((s) => s.received.length),
            all.map(() => 4 + 2 + 1),
            'every post once, the replayed ones included',
          );
        }
        assert.deepEqual(one.errors, [], 'uncaught errors in the page');
      } finally {
        await one.close();
      }
    } finally {
      await layout.stop();
    }
  });
}

test('every-tab and leader on websockets: a socket per tab and one per browser, each post shown once', async (t) => {
  if (skipWithoutChromium(t)) return;
  const layout = await startLayout('single-process', POLL_TIMEOUT);
  try {
    for (const [mode, sockets] of [
      ['every-tab', 3],
      ['leader', 1],
    ] as const) {
      const one = await openBrowser(layout, mode, 3, 'websocket');
      try {
        await eventually(async () =>
          metric(await metrics(layout), 'busbench_ws_open_sockets') === sockets ? true : undefined,
        );
        const seen = await over(layout, 1000);
        assert.deepEqual(
          new Set(seen.websockets),
          new Set([sockets]),
          `${mode}: websockets ${seen.websockets.join(' ')}`,
        );
        assert.deepEqual(new Set(seen.parked), new Set([0]), `${mode}: parked polls ${seen.parked.join(' ')}`);
        await assertEachShownOnce(one.tabs, await postFromTabs(one.tabs, [0, 2], mode));
        assert.deepEqual(one.errors, [], 'uncaught errors in the page');
      } finally {
        await one.close();
      }
      // Chromium closing is the sockets' end: the next mode starts from none.
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_ws_open_sockets') === 0 ? true : undefined,
      );
    }
  } finally {
    await layout.stop();
  }
});

test('busbench bench --browser --transport websocket measures the shared worker: one websocket and no parked poll per browser, nothing lost', async (t) => {
  if (skipWithoutChromium(t)) return;
  const { stdout, run, cleanUp } = await browserBench([
    '--transport',
    'websocket',
    '--layouts',
    'single-process',
    '--browser-modes',
    'shared-worker',
    '--browser-count',
    '2',
    '--browser-tabs',
    '3',
  ]);
  t.after(cleanUp);
  assert.deepEqual(run.sweep.transport, ['websocket']);
  const [entry, ...more] = run.browser ?? [];
  assert.ok(entry, 'a browser entry');
  assert.equal(more.length, 0);
  assert.equal(entry.id, 'single-process transport=websocket shared-worker');
  assert.equal(entry.transport, 'websocket');
  assert.equal(entry.websockets_per_browser, 1);
  assert.equal(entry.parked_polls, 0);
  assert.equal(entry.polls_in_flight, 0);
  assert.equal(entry.lost, 0);
  assert.equal(entry.duplicated, 0);
  assert.equal(entry.expected, 2 * 5 * 6 + 4, '10 posts to all 6 tabs, then 1 to the 4 tabs left');
  assert.ok(entry.handover_ms !== null, 'the tabs left showed the post after a tab closed');
  assert.deepEqual(entry.warnings, []);
  assert.match(stdout, /single-process transport=websocket shared-worker +6 /);
});
