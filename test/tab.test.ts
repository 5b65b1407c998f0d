// The shared tab behaviour (loadtests/lib/tab.js) and delivery check, driven by a scripted
// transport: the order of answers is the test's to choose.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { countDeliveries } from '../loadtests/lib/delivery.js';
import { hiddenTabs } from '../loadtests/lib/load-plan.js';
import { SIMULATED_TAB_MODES, type TabMode } from '../loadtests/lib/profiles.js';
import { Browser, clientId, parseClientId, type Receipt, type Reply } from '../loadtests/lib/tab.js';
import { ConnectionPool } from '../src/bench/connection-pool.js';
import { BENCH_OPTIONS } from '../src/bench/options.js';
import { loadOptions } from '../src/lib/options.js';
import { TAB_MODES } from '../web/tab-state.js';

const TAG = 'run1';

function notification(id: number, postId: number, due = 1000) {
  return { id, payload: { type: 'message', message: { client_id: clientId(TAG, postId, due) } } };
}

function browser(tabs: number, tabMode: TabMode, polls: Reply[] = []) {
  const receipts: Receipt[] = [];
  const requests: string[] = [];
  let clock = 10_000;
  const b = new Browser({
    id: 1,
    login: 'user1',
    appUrl: 'http://app',
    busUrl: 'http://bus',
    tabs,
    tabMode,
    hidden: [],
    hiddenSlowdown: false,
    hiddenDelay: [4, 1, 20],
    pollTimeout: 50,
    runTag: TAG,
    onReceipt: (r) => receipts.push(r),
    transport: {
      request: async (_method, url) => {
        requests.push(url);
        if (url.endsWith('/session')) return { status: 201, body: { token: 't', user: { id: 1 } } };
        if (url.endsWith('/channels')) return { status: 200, body: { channels: [{ id: 1 }, { id: 3 }] } };
        const next = polls.shift();
        if (next) return next;
        b.stopped = true;
        return { status: 0, body: undefined };
      },
      sleep: async () => {},
      now: () => ++clock,
      random: () => 0,
    },
  });
  return { b, receipts, requests };
}

test('a tab counts a notification it already applied as a duplicate, and an older one as out of order', () => {
  const { b, receipts } = browser(1, 'every-tab');
  const [tab] = b.tabs;
  assert.ok(tab);
  tab.apply(notification(5, 1));
  tab.apply(notification(5, 1));
  tab.apply(notification(4, 2));
  tab.apply({ id: 6, payload: { type: 'message', message: { client_id: 'other-run:9:1' } } });
  assert.deepEqual(
    receipts.map((r) => [r.postId, r.kind]),
    [
      [1, 'first'],
      [1, 'duplicate'],
      [2, 'out-of-order'],
    ],
  );
  assert.equal(tab.duplicates, 1);
  assert.equal(tab.outOfOrder, 1);
  assert.equal(tab.last, 6, "another run's notification still moves the cursor");
});

test('a browser logs in once, and in leader mode only its first tab polls but every tab receives', async () => {
  const { b, receipts, requests } = browser(3, 'leader', [
    { status: 200, body: { notifications: [notification(7, 1)], last: 7 } },
  ]);
  await b.open();
  assert.deepEqual(b.channels, ['channel:1', 'channel:3', 'user:1']);
  b.start();
  await Promise.all(b.loops);
  assert.equal(b.loops.length, 1, 'one poll loop for the browser');
  assert.equal(requests.filter((u) => u.endsWith('/session')).length, 1);
  assert.deepEqual(
    receipts.map((r) => r.tab.index),
    [0, 1, 2],
  );
  assert.ok(b.tabs.every((t) => t.last === 7));
});

test('the delivery check tells lost from pending by whether a later poll was answered', () => {
  const { b } = browser(2, 'every-tab');
  b.channelIds = [1];
  const [seen, behind] = b.tabs;
  assert.ok(seen && behind);
  for (const t of b.tabs) t.startedAt = 100;
  seen.received.set(1, 1);
  seen.polledAt = 500;
  behind.polledAt = 150;
  const posts = [
    { postId: 1, channel: 1, due: 200, sentAt: 200, ackedAt: 210, ok: true },
    { postId: 2, channel: 1, due: 300, sentAt: 300, ackedAt: 310, ok: true },
    { postId: 3, channel: 1, due: 50, sentAt: 50, ackedAt: 60, ok: true },
    { postId: 4, channel: 1, due: 400, sentAt: 400, ackedAt: 0, ok: false },
  ];
  const count = countDeliveries(posts, [b]);
  // Post 3 left before the tabs started: not expected. Post 4 failed: not expected.
  assert.equal(count.posts, 3);
  assert.equal(count.expected, 4);
  assert.equal(count.delivered, 1);
  assert.equal(count.lost, 1, 'post 2 at tab "seen": its poll of 500 came back without it');
  assert.equal(count.pending, 2, 'tab "behind" has had no answered poll since either post');
});

test('client ids carry the post id and due time, and other runs are ignored', () => {
  assert.deepEqual(parseClientId(clientId(TAG, 12, 1700000000123), TAG), { postId: 12, due: 1700000000123 });
  assert.equal(parseClientId(clientId('other', 12, 1), TAG), undefined);
  assert.equal(parseClientId(null, TAG), undefined);
});

test("the simulated tabs' modes are the chat page's names, and --tab-mode still reads leader-tab as leader", () => {
  for (const mode of SIMULATED_TAB_MODES) assert.ok(TAB_MODES.includes(mode), `${mode} is a page mode`);
  const tabMode = (raw: string) => loadOptions(BENCH_OPTIONS, { tabMode: raw }, {}).tabMode;
  assert.equal(tabMode('every-tab'), 'every-tab');
  assert.equal(tabMode('leader'), 'leader');
  assert.equal(tabMode('leader-tab'), 'leader');
  assert.equal(loadOptions(BENCH_OPTIONS, {}, { BUSBENCH_TAB_MODE: 'leader-tab' }).tabMode, 'leader');
  assert.equal(tabMode('shared-worker'), 'shared-worker', "Odoo 16's one connection per browser (issue 15)");
  assert.throws(() => tabMode('master-tab'), /must be one of every-tab, leader, shared-worker/);
});

/** A browser whose tab 1 is hidden; records each poll and each sleep, and stops after `polls` polls. */
function sleepyBrowser(hiddenSlowdown: boolean, polls: number) {
  const events: string[] = [];
  const b = new Browser({
    id: 1,
    login: 'user1',
    appUrl: 'http://app',
    busUrl: 'http://bus',
    tabs: 2,
    tabMode: 'every-tab',
    hidden: hiddenTabs({ tabsPerBrowser: 2, windowsPerBrowser: 1 }),
    hiddenSlowdown,
    hiddenDelay: [4, 1, 20],
    pollTimeout: 50,
    runTag: TAG,
    onReceipt: () => {},
    transport: {
      request: async (_method, url, _endpoint, body) => {
        if (url.endsWith('/session')) return { status: 201, body: { token: 't', user: { id: 1 } } };
        if (url.endsWith('/channels')) return { status: 200, body: { channels: [{ id: 1 }] } };
        events.push(`poll last=${(body as { last: number }).last}`);
        if (events.filter((e) => e.startsWith('poll')).length >= polls) b.stopped = true;
        return { status: 200, body: { notifications: [], last: 0 } };
      },
      sleep: async (ms) => {
        events.push(`sleep ${ms}`);
      },
      now: () => 0,
      random: () => 0.5,
    },
  });
  return { b, events };
}

test('a hidden tab sleeps 4 s + uniform(1, 20) s between polls only when hidden tabs slow down', async () => {
  const slow = sleepyBrowser(true, 6);
  await slow.b.open();
  assert.deepEqual(
    slow.b.tabs.map((t) => t.hidden),
    [false, true],
    'one window: its first tab is looked at, the other is hidden',
  );
  slow.b.start();
  await Promise.all(slow.b.loops);
  assert.ok(slow.events.includes('sleep 14500'), `the hidden tab slept: ${slow.events.join(', ')}`);
  const same = sleepyBrowser(false, 6);
  await same.b.open();
  same.b.start();
  await Promise.all(same.b.loops);
  assert.ok(
    same.events.every((e) => !e.startsWith('sleep')),
    `without the slowdown no tab sleeps: ${same.events.join(', ')}`,
  );
});

test("the connection pool measures how long a request waited behind the browser's busy connections", async () => {
  const release: (() => void)[] = [];
  const server = createServer((_req, res) => {
    release.push(() => res.end('{}'));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  const pool = new ConnectionPool(`http://127.0.0.1:${port}`, 1, {}, { connected: () => {}, disconnected: () => {} });
  try {
    const waits: number[] = [];
    const send = () =>
      pool.with(async (client, queuedMs) => {
        waits.push(queuedMs);
        const res = await client.request({ path: '/', method: 'GET' });
        await res.body.text();
      });
    const arrived = async () => {
      for (let i = 0; i < 500 && release.length === 0; i++) await setTimeout(20);
    };
    const first = send();
    const second = send();
    await arrived();
    await setTimeout(300);
    assert.equal(pool.queued, 1, 'the second request waits for the only connection');
    release.shift()?.();
    await first;
    await arrived();
    release.shift()?.();
    await second;
    assert.equal(waits.length, 2);
    assert.ok((waits[0] ?? 1) < 100, `the first found a free connection: ${waits[0]} ms`);
    assert.ok((waits[1] ?? 0) >= 250, `the second waited for the first to finish: ${waits[1]} ms`);
  } finally {
    await pool.destroy();
    server.close();
  }
});
