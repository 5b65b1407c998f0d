// dedicated-longpoll behind its front: app and bus on one origin, so a browser's 6
// connections are shared by page requests and polls, as behind Odoo's proxy. With
// --bus-origin separate the bus keeps its own origin (and 6 more connections).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PROFILES } from '../loadtests/lib/profiles.js';
import { Metrics } from '../src/app/metrics.js';
import { Runner } from '../src/bench/runner.js';
import { freePort, origin } from '../src/lib/net.js';
import { startFront } from '../src/topologies/front.js';
import { eventually, type Layout, login, metric, metrics, poll, post, request, startLayout } from './helpers.js';

const parked = async (layout: Layout) => metric(await metrics(layout), 'busbench_bus_parked_polls');

interface SocketPeaks {
  /** Client sockets the layout counted, the sampler's own connection left out. */
  clients: number;
  /** Per process, the same. */
  byProcess: Record<string, number>;
  posts: number;
  delivered: number;
  clientPeakPerBrowser: number;
}

/**
 * One simulated browser (the bench's runner) with 8 tabs of one user, every tab long-polling,
 * posting twice a second for `ms`; the layout's client sockets are sampled meanwhile.
 */
async function browserOfEightTabs(layout: Layout, ms: number): Promise<SocketPeaks> {
  const tabs = PROFILES.tabs;
  assert.ok(tabs, 'profile tabs');
  const runner = new Runner(
    {
      ...tabs,
      users: 1,
      browsersPerUser: 1,
      tabsPerBrowser: 8,
      tabMode: 'every-tab',
      connectionsPerOrigin: 6,
      windowsPerBrowser: 8,
      hiddenSlowdown: false,
      channels: 5,
      channelsPerUser: 1,
      pollTimeout: 3,
      rate: 2,
    },
    { appUrl: layout.url, busUrl: layout.busUrl, runTag: 'one-origin' },
  );
  const peaks: SocketPeaks = { clients: 0, byProcess: {}, posts: 0, delivered: 0, clientPeakPerBrowser: 0 };
  try {
    await runner.start(0);
    runner.setPhase('measure');
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const text = await metrics(layout);
      // The sample's own request is on a connection of its own, counted at the process it reached.
      peaks.clients = Math.max(peaks.clients, metric(text, 'busbench_http_open_sockets') - 1);
      for (const p of ['front', 'worker-1', 'worker-2', 'bus']) {
        const n = metric(text, 'busbench_http_open_sockets', { process: p });
        peaks.byProcess[p] = Math.max(peaks.byProcess[p] ?? 0, n);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await runner.drain(10_000);
    const totals = runner.totals();
    peaks.posts = totals.delivery.posts;
    peaks.delivered = totals.delivery.delivered;
    peaks.clientPeakPerBrowser = totals.client.http_connections_peak_per_browser;
  } finally {
    await runner.stop();
    await runner.close();
  }
  return peaks;
}

describe('dedicated-longpoll on one origin (the default)', () => {
  let layout: Layout;
  let alice: string;

  before(async () => {
    layout = await startLayout('dedicated-longpoll', ['--poll-timeout', '20']);
    alice = await login(layout, 'user1');
  });
  after(async () => {
    assert.equal(await layout.stop(), 0, layout.log());
  });

  test('answers /config, /bus/poll and chat posts on one port, and /config names no second origin', async () => {
    assert.equal(layout.busUrl, layout.url, 'the ready line names one origin');
    const config = await request<{ bus_url: string | null }>('GET', `${layout.url}/config`);
    assert.equal(config.status, 200);
    assert.equal(config.body.bus_url, null, 'bus_url null: /bus/* is on the page’s own origin');
    const polled = await request('POST', `${layout.url}/bus/poll`, {
      token: alice,
      body: { channels: ['channel:1'], options: { timeout: 0 } },
    });
    assert.equal(polled.status, 200, polled.text);
    const posted = await post(layout, alice, 1, 'through the front');
    assert.equal(posted.status, 201, posted.text);
    const polledAgain = await poll(layout, alice, ['channel:1'], 0, 0);
    assert.ok(polledAgain.body.notifications.some((n) => n.payload.message.body === 'through the front'));
  });

  test('/bus/healthz through the front names the bus process, /healthz a worker', async () => {
    const bus = await request<{ process?: string }>('GET', `${layout.url}/bus/healthz`);
    assert.equal(bus.status, 200, bus.text);
    assert.equal(bus.body.process, 'bus');
    const app = await request<{ process?: string }>('GET', `${layout.url}/healthz`);
    assert.match(app.body.process ?? '', /^worker-/);
  });

  test('a poll through the front is woken by a post through the front', async () => {
    const bob = await login(layout, 'user2');
    const { last } = (await poll(layout, bob, ['channel:1'], 0, 0)).body;
    const started = Date.now();
    const waiting = poll(layout, bob, ['channel:1'], last, 20);
    await eventually(async () => ((await parked(layout)) >= 1 ? true : undefined));
    assert.equal((await post(layout, alice, 1, 'wake up')).status, 201);
    const woken = await waiting;
    assert.equal(woken.status, 200, woken.text);
    assert.deepEqual(
      woken.body.notifications.map((n) => n.payload.message.body),
      ['wake up'],
    );
    // The poll timeout is 20 s: well under it means the post woke it.
    assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`);
  });

  test('a client that hangs up on a parked poll at the front drops its waiter in the bus process', async () => {
    const bob = await login(layout, 'user2');
    const body = JSON.stringify({
      channels: ['channel:1'],
      last: (await poll(layout, bob, ['channel:1'], 0, 0)).body.last,
    });
    await eventually(async () => ((await parked(layout)) === 0 ? true : undefined));
    const { hostname, port } = new URL(layout.url);
    const socket = net.connect(Number(port), hostname);
    socket.on('error', () => {});
    socket.write(
      `POST /bus/poll HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${bob}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await eventually(async () => ((await parked(layout)) === 1 ? true : undefined));
    const hungUpAt = Date.now();
    socket.destroy();
    await eventually(async () => ((await parked(layout)) === 0 ? true : undefined), 5000);
    assert.ok(Date.now() - hungUpAt < 5000, 'dropped at the hang-up, not at the 20 s timeout');
  });

  test('a browser of 8 long-polling tabs holds at most 6 connections to the layout, and its posts still go through', {
    timeout: 60_000,
  }, async () => {
    const peaks = await browserOfEightTabs(layout, 6000);
    assert.ok(peaks.clientPeakPerBrowser <= 6, `the browser opened ${peaks.clientPeakPerBrowser}`);
    assert.ok(peaks.clients <= 6, `the layout counted ${peaks.clients} client connections`);
    assert.equal(peaks.clients, 6, '8 parked polls fill the whole budget of 6');
    // Client sockets are the front's; the processes behind it count only the front's connections.
    for (const p of ['worker-1', 'worker-2', 'bus']) assert.equal(peaks.byProcess[p], 0, p);
    assert.ok(peaks.posts > 0, 'posts queued behind the polls and were sent');
    assert.ok(peaks.delivered > 0, 'and were delivered');
  });
});

describe('a worker that dies behind the front', () => {
  test('requests meanwhile get 200 or 503 E_UPSTREAM_UNAVAILABLE, and the restarted worker serves again', {
    timeout: 60_000,
  }, async () => {
    const layout = await startLayout('dedicated-longpoll');
    try {
      const health = () =>
        request<{ process?: string; pid?: number; error?: { code: string } }>('GET', `${layout.url}/healthz`, {
          timeoutMs: 10_000,
        });
      const first = await health();
      assert.equal(first.status, 200, first.text);
      assert.ok(first.body.pid && first.body.process?.startsWith('worker-'), first.text);
      process.kill(first.body.pid, 'SIGKILL');
      const statuses = new Set<string>();
      const answeredBy = new Set<string>();
      const until = Date.now() + 30_000;
      while (Date.now() < until && answeredBy.size < 2) {
        const reply = await health();
        statuses.add(reply.status === 200 ? '200' : `${reply.status} ${reply.body.error?.code}`);
        if (reply.status === 503) assert.ok(Number(reply.headers['retry-after']) > 0);
        // The killed worker counts once it answers under a pid of its own again.
        if (reply.status === 200 && reply.body.pid !== first.body.pid) answeredBy.add(reply.body.process ?? '');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual([...answeredBy].sort(), ['worker-1', 'worker-2'], 'both workers answer again');
      for (const s of statuses) assert.match(s, /^(200|503 E_UPSTREAM_UNAVAILABLE)$/);
      assert.equal(metric(await metrics(layout), 'busbench_worker_restarts_total'), 1);
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });
});

describe('dedicated-longpoll with --bus-origin separate', () => {
  let layout: Layout;

  before(async () => {
    layout = await startLayout('dedicated-longpoll', ['--bus-origin', 'separate', '--poll-timeout', '20']);
  });
  after(async () => {
    assert.equal(await layout.stop(), 0, layout.log());
  });

  test('announces the bus process as a second origin; each process names the other for what it does not serve', async () => {
    assert.notEqual(layout.busUrl, layout.url);
    const config = await request<{ bus_url: string | null }>('GET', `${layout.url}/config`);
    assert.equal(config.body.bus_url, layout.busUrl);
    const token = await login(layout, 'user1');
    assert.equal((await poll(layout, token, ['channel:1'], 0, 0)).status, 200);
    const misrouted = await request('POST', `${layout.url}/bus/poll`, { token, body: { channels: ['channel:1'] } });
    assert.equal(misrouted.status, 404);
    assert.equal((misrouted.body.error as { code: string }).code, 'E_WRONG_PROCESS');
    assert.match((misrouted.body.error as { message: string }).message, new RegExp(layout.busUrl));
    const page = await request('GET', `${layout.busUrl}/`);
    assert.equal(page.status, 404, 'the bus process does not serve the page');
    assert.equal((page.body.error as { code: string }).code, 'E_WRONG_PROCESS');
    assert.match((page.body.error as { message: string }).message, new RegExp(layout.url));
  });

  test('the same browser gets a second budget: more than 6 connections to the layout', {
    timeout: 60_000,
  }, async () => {
    const peaks = await browserOfEightTabs(layout, 6000);
    assert.equal(peaks.byProcess.bus, 6, 'the polls fill the bus origin’s 6');
    assert.ok(peaks.clients > 6, `the layout counted ${peaks.clients} client connections`);
    assert.ok(peaks.posts > 0);
  });
});

describe('the front with nothing behind it', () => {
  test('answers 503 E_UPSTREAM_UNAVAILABLE with Retry-After as JSON, for the app and the bus path', async () => {
    const host = '127.0.0.1';
    const nobody = origin(host, await freePort(host));
    const front = await startFront({
      host,
      port: 0,
      app: [nobody],
      bus: nobody,
      pollTimeoutMs: 5000,
      metrics: new Metrics('dedicated-longpoll', 'front'),
    });
    try {
      for (const path of ['/config', '/bus/poll']) {
        const reply = await request('POST', `${origin(host, front.port)}${path}`, { body: {} });
        assert.equal(reply.status, 503, reply.text);
        assert.ok(Number(reply.headers['retry-after']) > 0);
        assert.equal((reply.body.error as { code: string }).code, 'E_UPSTREAM_UNAVAILABLE');
      }
    } finally {
      front.stopAccepting();
      await front.close();
    }
  });
});
