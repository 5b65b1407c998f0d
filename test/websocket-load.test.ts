// The load on the websocket transport (issue 15): the shared websocket tabs (ws-tab.js) with
// a scripted socket, where the order of frames and closes is the test's to choose; then real
// short bench cases with `--transport websocket` on single-process and cluster-fork with the
// Node runner, and on the real k6.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { countDeliveries } from '../loadtests/lib/delivery.js';
import type { TabMode } from '../loadtests/lib/profiles.js';
import { clientId, type Receipt } from '../loadtests/lib/tab.js';
import { SocketBrowser, type SocketEvents, websocketUrl } from '../loadtests/lib/ws-tab.js';
import { BENCH_OPTIONS } from '../src/bench/options.js';
import { casesOf, resolveProfile } from '../src/bench/sweep.js';
import { loadOptions } from '../src/lib/options.js';
import { loadConfig } from '../src/lib/server-options.js';
import { benchCase } from './helpers.js';
import { missingTool } from './tools.js';

const TAG = 'run1';
const hasK6 = spawnSync('k6', ['version']).status === 0;

function notification(id: number, postId: number, due: number, channel = 'channel:1') {
  return { id, channel, payload: { type: 'message', message: { client_id: clientId(TAG, postId, due) } } };
}

interface Scripted {
  url: string;
  sent: unknown[];
  events: SocketEvents;
  closedByClient: boolean;
}

/** A browser whose sockets the test drives: each connect() is recorded, opened at once, and left to the test. */
function socketBrowser(tabs: number, tabMode: TabMode) {
  const receipts: Receipt[] = [];
  const sockets: Scripted[] = [];
  let clock = 10_000;
  const b = new SocketBrowser({
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
    presenceInterval: 3600,
    runTag: TAG,
    onReceipt: (r) => receipts.push(r),
    transport: {
      request: async (_method, url) => {
        if (url.endsWith('/session')) return { status: 201, body: { token: 't k', user: { id: 7 } } };
        if (url.endsWith('/channels')) return { status: 200, body: { channels: [{ id: 1 }, { id: 3 }] } };
        return { status: 0, body: undefined };
      },
      connect: (url, events) => {
        const s: Scripted = { url, sent: [], events, closedByClient: false };
        sockets.push(s);
        queueMicrotask(() => events.open());
        return {
          send: (text) => s.sent.push(JSON.parse(text)),
          close: () => {
            s.closedByClient = true;
            events.close(1000);
          },
        };
      },
      sleep: () => setTimeout(1),
      now: () => ++clock,
      random: () => 0,
    },
  });
  return { b, receipts, sockets };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await setTimeout(2);
  assert.ok(check(), 'the scripted condition never came');
}

test('a websocket tab subscribes with its channels over the bus origin, and after a close resubscribes from the last id it applied', async () => {
  const { b, receipts, sockets } = socketBrowser(1, 'every-tab');
  await b.open();
  b.start();
  await until(() => sockets[0]?.sent.length === 1);
  const first = sockets[0] as Scripted;
  assert.equal(first.url, websocketUrl('http://bus', 't k'));
  assert.equal(first.url, 'ws://bus/websocket?token=t%20k');
  assert.deepEqual(first.sent[0], {
    event_name: 'subscribe',
    data: { channels: ['channel:1', 'channel:3', 'user:7'], last: 0 },
  });
  first.events.message(JSON.stringify({ type: 'notifications', notifications: [notification(4, 1, 10_050)] }));
  first.events.message(JSON.stringify({ type: 'notifications', notifications: [notification(9, 2, 10_060)] }));
  first.events.close(1011);
  await until(() => sockets[1]?.sent.length === 1);
  assert.deepEqual((sockets[1] as Scripted).sent[0], {
    event_name: 'subscribe',
    data: { channels: ['channel:1', 'channel:3', 'user:7'], last: 9 },
  });
  // A server that resent what the tab already had would show up as duplicates.
  (sockets[1] as Scripted).events.message(
    JSON.stringify({ type: 'notifications', notifications: [notification(9, 2, 10_060)] }),
  );
  await b.stop();
  assert.deepEqual(
    receipts.map((r) => [r.postId, r.kind]),
    [
      [1, 'first'],
      [2, 'first'],
      [2, 'duplicate'],
    ],
  );
  assert.equal(sockets.length, 2, 'stop() closed the socket and made no new one');
  assert.ok((sockets[1] as Scripted).closedByClient);
});

test('a websocket tab whose subscribe is refused with an error frame starts over on a new socket from its last id', async () => {
  const { b, sockets } = socketBrowser(1, 'every-tab');
  await b.open();
  b.start();
  await until(() => sockets[0]?.sent.length === 1);
  const first = sockets[0] as Scripted;
  first.events.message(JSON.stringify({ type: 'notifications', notifications: [notification(5, 1, 10_050)] }));
  first.events.message(JSON.stringify({ type: 'error', error: { code: 'E_BUSY', message: 'busy' } }));
  assert.ok(first.closedByClient, 'the refused socket is closed, not left open unsubscribed');
  await until(() => sockets[1]?.sent.length === 1);
  await b.stop();
  assert.deepEqual((sockets[1] as Scripted).sent[0], {
    event_name: 'subscribe',
    data: { channels: ['channel:1', 'channel:3', 'user:7'], last: 5 },
  });
});

test('shared-worker mode holds one socket per browser and every tab applies what it brings', async () => {
  const { b, receipts, sockets } = socketBrowser(3, 'shared-worker');
  await b.open();
  b.start();
  await until(() => sockets[0]?.sent.length === 1);
  (sockets[0] as Scripted).events.message(
    JSON.stringify({ type: 'notifications', notifications: [notification(1, 1, 10_050)] }),
  );
  await b.stop();
  assert.equal(sockets.length, 1);
  assert.deepEqual(
    receipts.map((r) => [r.tab.index, r.postId, r.kind]),
    [
      [0, 1, 'first'],
      [1, 1, 'first'],
      [2, 1, 'first'],
    ],
  );
});

test('every-tab websocket mode holds one socket per tab', async () => {
  const { b, sockets } = socketBrowser(3, 'every-tab');
  await b.open();
  b.start();
  await until(() => sockets.length === 3 && sockets.every((s) => s.sent.length === 1));
  await b.stop();
  assert.equal(sockets.length, 3);
});

test('a socket tab that got a post due after another was acknowledged, but not that one, lost it; without such a post it is pending', async () => {
  const { b, sockets } = socketBrowser(1, 'every-tab');
  await b.open();
  b.start();
  await until(() => sockets[0]?.sent.length === 1);
  const [tab] = b.tabs;
  assert.ok(tab);
  const from = tab.startedAt;
  // Post 1 acknowledged at from+100; post 2 due at from+200 (sent after it): its bus id is larger.
  (sockets[0] as Scripted).events.message(
    JSON.stringify({ type: 'notifications', notifications: [notification(8, 2, from + 200)] }),
  );
  await b.stop();
  const posts = [
    { postId: 1, channel: 1, due: from + 50, sentAt: from + 50, ackedAt: from + 100, ok: true },
    { postId: 2, channel: 1, due: from + 200, sentAt: from + 200, ackedAt: from + 250, ok: true },
    { postId: 3, channel: 1, due: from + 300, sentAt: from + 300, ackedAt: from + 350, ok: true },
  ];
  const count = countDeliveries(posts, [b]);
  assert.equal(count.expected, 3);
  assert.equal(count.delivered, 1);
  assert.equal(count.lost, 1, 'post 1: the socket brought a later post without it');
  assert.equal(count.pending, 1, 'post 3: nothing after it proves it should be here yet');
});

test('--transport longpoll,websocket crosses every layout, the websocket cases named so', () => {
  const opts = loadOptions(
    BENCH_OPTIONS,
    { layouts: 'single-process,cluster-fork', transports: 'longpoll,websocket' },
    {},
  );
  const cases = casesOf(opts, resolveProfile(opts), loadConfig({}, {}));
  assert.deepEqual(
    cases.map((c) => [c.id, c.transport]),
    [
      ['single-process', 'longpoll'],
      ['single-process transport=websocket', 'websocket'],
      ['cluster-fork', 'longpoll'],
      ['cluster-fork transport=websocket', 'websocket'],
    ],
  );
  assert.throws(
    () => loadOptions(BENCH_OPTIONS, { transports: 'longpoll,sse' }, {}),
    /must list one or more of longpoll, websocket/,
  );
});

/** One short case on websockets: 6 users x 2 tabs, quick phases. */
function websocketCase(layout: string, extra: string[] = []) {
  return mkdtemp(path.join(os.tmpdir(), 'busbench-wsload-')).then((out) =>
    benchCase(out, [
      '--quick',
      '--layouts',
      layout,
      '--transport',
      'websocket',
      '--users',
      '6',
      '--tabs',
      '2',
      ...extra,
    ]),
  );
}

test('bench --transport websocket on single-process delivers every post once, in order, and counts the sockets on the server', async () => {
  const c = await websocketCase('single-process');
  assert.equal(c.id, 'single-process transport=websocket');
  assert.equal(c.transport, 'websocket');
  const d = c.totals.delivery;
  assert.ok(d.posts > 0 && d.expected > 0, 'posts were made and owed');
  assert.equal(d.delivered, d.expected, `every post reached every tab (${d.pending} pending)`);
  assert.equal(d.lost, 0);
  assert.equal(d.duplicated, 0);
  assert.equal(d.out_of_order, 0);
  assert.ok(d.latency_ms.p50 !== null, 'delivery latency measured');
  assert.equal(c.totals.server.peak_open_websockets, 12, 'every-tab: one socket per tab, from /metrics');
  assert.equal(c.totals.derived.websockets_per_1000_tabs, 1000);
  assert.equal(c.totals.server.peak_parked_polls, 0, 'no tab long-polled');
  assert.equal(c.totals.client.requests['bus.poll'], undefined);
  assert.equal(c.totals.client.websockets_peak, 12);
});

test('bench --transport websocket on cluster-fork in shared-worker mode holds one socket per browser and loses nothing', async () => {
  const c = await websocketCase('cluster-fork', ['--tab-mode', 'shared-worker']);
  const d = c.totals.delivery;
  assert.ok(d.expected > 0);
  assert.equal(d.delivered, d.expected, `every post reached every tab (${d.pending} pending)`);
  assert.equal(d.lost + d.duplicated + d.out_of_order, 0);
  assert.equal(c.totals.server.peak_open_websockets, 6, "one socket per browser, summed over the workers' /metrics");
  assert.equal(c.totals.client.tabs, 12);
});

test('bench --engine k6 --transport websocket runs websocket tabs on the real k6', async (t) => {
  if (missingTool(t, hasK6, 'no k6 on PATH: put ../shared/tools/k6 on PATH, as .ci/run does')) return;
  const c = await websocketCase('single-process', ['--engine', 'k6']);
  assert.equal(c.transport, 'websocket');
  const d = c.totals.delivery;
  assert.ok(d.expected > 0, 'tabs owed posts');
  assert.equal(d.lost + d.duplicated + d.out_of_order, 0);
  assert.equal(d.delivered + d.pending, d.expected);
  assert.ok(d.delivered > 0, 'posts arrived over the sockets');
  assert.equal(c.totals.server.peak_open_websockets, 12, "k6's sampler read the layout's websockets");
  assert.equal(c.totals.client.requests['bus.poll'], undefined, 'no tab long-polled');
});
