// The /websocket contract (issue 15), in every layout: the same frames get the same answers
// whichever process holds the socket. Seed (SMALL_DATA): user1 is in channels 1 and 3, user2
// in 1 and 4; every user is in channel 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import {
  eventually,
  type Layout,
  login,
  metric,
  metrics,
  poll,
  post,
  request,
  sql,
  startLayout,
  TOPOLOGIES,
} from './helpers.js';
import { missingTool } from './tools.js';

const NGINX_DIR = fileURLToPath(new URL('../../deploy/nginx', import.meta.url));

interface Frame {
  type: string;
  notifications?: { id: number; channel: string; payload: { message: { body: string } } }[];
  error?: { code: string; message: string; field?: string };
}

/** A test client: every frame it got, and how the socket closed. */
class Client {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #changed = () => {};

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.#changed();
    });
    // A send racing the server's close (the 1 MiB frame) may fail; the close code is what counts.
    ws.on('error', () => {});
    this.closed = new Promise((done) => ws.once('close', (code, reason) => done({ code, reason: reason.toString() })));
  }

  /** A socket to `origin` (the layout's bus origin unless given), the session in the query as a browser sends it. */
  static open(
    layout: Layout,
    token: string,
    options: WebSocket.ClientOptions = {},
    origin = layout.busUrl,
  ): Promise<Client> {
    const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/websocket?token=${token}`, options);
    const client = new Client(ws);
    return new Promise((done, fail) => {
      ws.once('open', () => done(client));
      ws.once('unexpected-response', (_req, res) => fail(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', fail);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  subscribe(channels: string[], last: number): void {
    this.send({ event_name: 'subscribe', data: { channels, last } });
  }

  /** The bodies of every message received so far, in order. */
  bodies(): string[] {
    return this.frames.flatMap((f) => (f.notifications ?? []).map((n) => n.payload.message.body));
  }

  ids(): number[] {
    return this.frames.flatMap((f) => (f.notifications ?? []).map((n) => n.id));
  }

  /** Resolves once `check` holds over the frames so far; fails after `ms` or when the socket closed without it. */
  async until(check: (c: Client) => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check(this) && Date.now() < deadline && this.ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, 50);
        this.#changed = () => {
          clearTimeout(timer);
          wake();
        };
      });
    }
    assert.ok(check(this), `condition not met in ${ms} ms; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
  }
}

/**
 * The wake-up fetches so far, once two reads 300 ms apart agree. A NOTIFY may reach a process
 * after the post's answer and just after a socket registered: that socket then fetches once
 * more (as a poll would), which must not land in the next count.
 */
async function settledWakeupFetches(layout: Layout): Promise<number> {
  const read = async () => metric(await metrics(layout), 'busbench_bus_fetch_queries_total', { reason: 'wakeup' });
  let previous = await read();
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const now = await read();
    if (now === previous) return now;
    previous = now;
  }
  throw new Error('busbench_bus_fetch_queries_total{reason="wakeup"} did not settle in 9 s');
}

/** An upgrade attempt answered with HTTP: its status and JSON body. */
function refusedUpgrade(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: { error: { code: string } } }>((done, fail) => {
    const req = http.get(url.replace(/^ws/, 'http'), {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', () => fail(new Error('the upgrade was accepted')));
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', fail);
  });
}

/** Debian puts nginx in /usr/sbin, which a non-root PATH lacks. */
function findNginx(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter(Boolean)) {
    try {
      accessSync(join(dir, 'nginx'), constants.X_OK);
      return join(dir, 'nginx');
    } catch {}
  }
  return undefined;
}

/**
 * deploy/nginx/<conf> run for real on a loopback port, its upstreams swapped for the layout's
 * origins (`upstreams`: config origin -> real origin); resolves to nginx's origin and a stop.
 */
async function startNginx(t: TestContext, conf: string, upstreams: Record<string, string>) {
  const nginx = findNginx();
  if (missingTool(t, nginx, 'nginx not installed: apt-get install nginx (CI installs it)') || !nginx) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'busbench-ws-nginx-'));
  await cp(NGINX_DIR, dir, { recursive: true });
  const port = await new Promise<number>((done) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => done(port));
    });
  });
  for (const file of await readdir(dir)) {
    let text = (await readFile(join(dir, file), 'utf8')).replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`);
    for (const [from, to] of Object.entries(upstreams)) text = text.replaceAll(from, to);
    await writeFile(join(dir, file), text);
  }
  const child = spawn(
    nginx,
    ['-p', `${dir}/`, '-c', join(dir, conf), '-e', 'stderr', '-g', `pid ${dir}/nginx.pid; daemon off;`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');
  const origin = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    return (await request('GET', `${origin}/healthz`, { timeoutMs: 1000 })).status === 200 ? true : undefined;
  });
  return {
    origin,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Through nginx: a subscribe gets a post, and a plain GET reaches the app (426), not a 400 of nginx's. */
async function checkThroughNginx(layout: Layout, origin: string): Promise<void> {
  const bob = await login(layout, 'user2');
  const client = await Client.open(layout, bob, {}, origin);
  client.subscribe(['channel:1'], 0);
  assert.equal((await post(layout, bob, 1, 'through nginx')).status, 201);
  await client.until((c) => c.bodies().includes('through nginx'));
  client.ws.close(1000);
  const plain = await request('GET', `${origin}/websocket`, { token: bob });
  assert.equal(plain.status, 426, plain.text);
}

for (const topology of TOPOLOGIES) {
  describe(`websocket: ${topology}`, () => {
    let layout: Layout;
    let alice: string; // user1
    let bob: string; // user2

    /** Posts a marker to channel 1 and returns the notification id just before it. */
    async function beforeMarker(text: string): Promise<number> {
      assert.equal((await post(layout, alice, 1, text)).status, 201);
      const polled = await poll(layout, bob, ['channel:1'], 0, 0);
      return polled.body.last - 1;
    }

    /** A socket of `token` subscribed to channel 1 and known to be following (it got the marker). */
    async function following(token: string, text: string): Promise<Client> {
      const client = await Client.open(layout, token);
      client.subscribe(['channel:1'], await beforeMarker(text));
      await client.until((c) => c.bodies().includes(text));
      return client;
    }

    before(async () => {
      layout = await startLayout(topology, ['--ws-ping-interval', '1', '--poll-timeout', '20']);
      alice = await login(layout, 'user1');
      bob = await login(layout, 'user2');
    });
    after(async () => {
      assert.equal(await layout.stop(), 0, layout.log());
    });

    test('a subscribed socket gets every later message on its channels, pushed, in order', async () => {
      const client = await following(bob, `marker ${topology}`);
      for (const text of ['one', 'two', 'three']) assert.equal((await post(layout, alice, 1, text)).status, 201);
      await client.until((c) => c.bodies().includes('three'));
      assert.deepEqual(client.bodies().slice(1), ['one', 'two', 'three']);
      const ids = client.ids();
      assert.ok(
        ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0)),
        `ids in order: ${ids}`,
      );
      const text = await metrics(layout);
      assert.ok(metric(text, 'busbench_ws_open_sockets') >= 1);
      assert.ok(metric(text, 'busbench_ws_subscriptions_total') >= 1);
      assert.ok(metric(text, 'busbench_ws_frames_total', { direction: 'out' }) >= 2);
      client.ws.close(1000);
      assert.equal((await client.closed).code, 1000);
    });

    test('a socket reconnecting from its last id misses nothing and gets nothing twice', async () => {
      const first = await following(bob, 'before the gap');
      assert.equal((await post(layout, alice, 1, 'r1')).status, 201);
      await first.until((c) => c.bodies().includes('r1'));
      const last = Math.max(...first.ids());
      first.ws.close(1000);
      await first.closed;
      for (const text of ['r2', 'r3']) assert.equal((await post(layout, alice, 1, text)).status, 201);
      const second = await Client.open(layout, bob);
      second.subscribe(['channel:1'], last);
      await second.until((c) => c.bodies().includes('r3'));
      assert.equal((await post(layout, alice, 1, 'r4')).status, 201);
      await second.until((c) => c.bodies().includes('r4'));
      assert.deepEqual(second.bodies(), ['r2', 'r3', 'r4']);
      assert.ok(Math.min(...second.ids()) > last);
      second.ws.close(1000);
    });

    test('subscribe writes presence online, update_presence writes the status sent', async () => {
      const carol = await login(layout, 'user5');
      await sql(layout.databaseUrl, 'DELETE FROM presence WHERE user_id = 5');
      const client = await following(carol, 'presence marker');
      const status = async () =>
        (await sql<{ status: string }>(layout.databaseUrl, 'SELECT status FROM presence WHERE user_id = 5'))[0]?.status;
      assert.equal(await status(), 'online');
      client.send({ event_name: 'update_presence', data: { status: 'away' } });
      await eventually(async () => ((await status()) === 'away' ? true : undefined));
      client.ws.close(1000);
    });

    test('a bad subscription gets an error frame and leaves the subscription as it was', async () => {
      const client = await following(alice, 'bad-subscription marker');
      const cases: [unknown, string, string][] = [
        [{ channels: ['nonsense'], last: 0 }, 'E_BAD_INPUT', 'channels[0]'],
        [{ channels: ['channel:4'], last: 0 }, 'E_FORBIDDEN', 'channels[0]'],
        [{ channels: ['user:2'], last: 0 }, 'E_FORBIDDEN', 'channels[0]'],
        [{ channels: [], last: 0 }, 'E_BAD_INPUT', 'channels'],
        [{ channels: ['channel:1'], last: -1 }, 'E_BAD_INPUT', 'last'],
        ['not an object', 'E_BAD_INPUT', 'data'],
      ];
      for (const [data, code, field] of cases) {
        const errorsBefore = client.frames.filter((f) => f.type === 'error').length;
        client.send({ event_name: 'subscribe', data });
        await client.until((c) => c.frames.filter((f) => f.type === 'error').length > errorsBefore);
        const error = client.frames.filter((f) => f.type === 'error').at(-1)?.error;
        assert.equal(error?.code, code, JSON.stringify(data));
        assert.equal(error?.field, field, JSON.stringify(data));
        // The rate limit (10 frames in 2 s) is not what this tests.
        await new Promise((r) => setTimeout(r, 250));
      }
      client.send({ event_name: 'update_presence', data: { status: 'asleep' } });
      await client.until((c) => c.frames.at(-1)?.error?.field === 'status');
      assert.equal(client.ws.readyState, WebSocket.OPEN);
      assert.equal((await post(layout, bob, 1, 'still subscribed')).status, 201);
      await client.until((c) => c.bodies().includes('still subscribed'));
      assert.equal(client.bodies().filter((b) => b === 'bad-subscription marker').length, 1);
      client.ws.close(1000);
    });

    test('a binary frame, a frame that is not JSON, or an unknown event closes with 1003', async () => {
      for (const frame of [
        Buffer.from('{"event_name":"subscribe"}'),
        'not json',
        'null',
        '{"event_name":"hello","data":{}}',
      ]) {
        const client = await Client.open(layout, bob);
        client.ws.send(frame, { binary: Buffer.isBuffer(frame) });
        assert.equal((await client.closed).code, 1003, String(frame));
      }
      assert.ok(metric(await metrics(layout), 'busbench_ws_closes_total', { code: '1003' }) >= 4);
    });

    test('a frame over 1 MiB closes with 1009', async () => {
      const client = await Client.open(layout, bob);
      client.send(JSON.stringify({ event_name: 'subscribe', data: { pad: 'x'.repeat(1024 * 1024) } }));
      assert.equal((await client.closed).code, 1009);
    });

    test('more than 10 frames within 2 s close the socket with 1013', async () => {
      const client = await Client.open(layout, bob);
      for (let i = 0; i < 11; i++) client.send({ event_name: 'update_presence', data: { status: 'online' } });
      assert.equal((await client.closed).code, 1013);
      assert.ok(metric(await metrics(layout), 'busbench_ws_closes_total', { code: '1013' }) >= 1);
    });

    test('an upgrade without a known session gets 401 JSON; a plain GET gets 426', async () => {
      const url = `${layout.busUrl}/websocket`;
      for (const [target, headers] of [
        [url, {}],
        [`${url}?token=nope`, {}],
        [url, { authorization: 'Bearer nope' }],
      ] as const) {
        const refused = await refusedUpgrade(target, headers);
        assert.equal(refused.status, 401);
        assert.equal(refused.body.error.code, 'E_UNAUTHORIZED');
      }
      const plain = await request('GET', url, { token: bob });
      assert.equal(plain.status, 426);
      assert.equal((plain.body.error as { code: string }).code, 'E_UPGRADE_REQUIRED');
    });

    test('an idle socket is pinged, and one that never answers is closed', async () => {
      const answering = await Client.open(layout, bob);
      const pinged = new Promise<void>((done) => answering.ws.once('ping', () => done()));
      await pinged;
      const silent = await Client.open(layout, bob, { autoPong: false });
      // --ws-ping-interval 1: a ping after 1 s idle, the cut 1 s later.
      assert.equal((await silent.closed).code, 1006);
      assert.equal(answering.ws.readyState, WebSocket.OPEN);
      assert.ok(metric(await metrics(layout), 'busbench_ws_pings_total') >= 2);
      answering.ws.close(1000);
    });

    test('a broadcast costs one fetch per socket per wake-up (per-waiter dispatch)', async () => {
      const one = await following(alice, 'dispatch marker a');
      const two = await following(bob, 'dispatch marker b');
      await two.until((c) => c.bodies().includes('dispatch marker b'));
      await one.until((c) => c.bodies().includes('dispatch marker b'));
      const before = await settledWakeupFetches(layout);
      assert.equal((await post(layout, alice, 1, 'broadcast')).status, 201);
      await one.until((c) => c.bodies().includes('broadcast'));
      await two.until((c) => c.bodies().includes('broadcast'));
      assert.equal((await settledWakeupFetches(layout)) - before, 2);
      one.ws.close(1000);
      two.ws.close(1000);
    });

    test('stopping the server closes open sockets with 1001', async () => {
      const client = await following(bob, 'shutdown marker');
      const [closed, code] = await Promise.all([client.closed, layout.stop()]);
      assert.equal(closed.code, 1001);
      assert.equal(code, 0, layout.log());
    });
  });
}

describe('websocket: dedicated-longpoll, bus on its own origin', () => {
  let layout: Layout;
  before(async () => {
    layout = await startLayout('dedicated-longpoll', ['--bus-origin', 'separate']);
  });
  after(async () => {
    assert.equal(await layout.stop(), 0, layout.log());
  });

  test('the bus port holds the socket; a worker refuses the upgrade naming the bus origin', async () => {
    assert.notEqual(layout.busUrl, layout.url);
    const bob = await login(layout, 'user2');
    const client = await Client.open(layout, bob);
    client.subscribe(['channel:1'], 0);
    assert.equal((await post(layout, bob, 1, 'separate origin')).status, 201);
    await client.until((c) => c.bodies().includes('separate origin'));
    client.ws.close(1000);
    const refused = await refusedUpgrade(`${layout.url}/websocket?token=${bob}`);
    assert.equal(refused.status, 404);
    assert.equal(refused.body.error.code, 'E_WRONG_PROCESS');
  });

  test("deploy/nginx's dedicated-longpoll.conf sends /websocket to the bus process with the Upgrade headers", async (t) => {
    const nginx = await startNginx(t, 'dedicated-longpoll.conf', {
      'http://dedicated-longpoll:8069': layout.url,
      'http://dedicated-longpoll:8072': layout.busUrl,
    });
    if (!nginx) return;
    try {
      await checkThroughNginx(layout, nginx.origin);
    } finally {
      await nginx.stop();
    }
  });
});

describe('websocket: shared dispatch', () => {
  let layout: Layout;
  before(async () => {
    layout = await startLayout('single-process', ['--dispatch', 'shared']);
  });
  after(async () => {
    assert.equal(await layout.stop(), 0, layout.log());
  });

  test('a broadcast to several sockets is one fetch, each socket gets it once', async () => {
    const alice = await login(layout, 'user1');
    const bob = await login(layout, 'user2');
    const clients = await Promise.all([alice, bob, alice].map((t) => Client.open(layout, t)));
    assert.equal((await post(layout, alice, 1, 'shared marker')).status, 201);
    const last = (await poll(layout, bob, ['channel:1'], 0, 0)).body.last - 1;
    for (const c of clients) c.subscribe(['channel:1'], last);
    for (const c of clients) await c.until((x) => x.bodies().includes('shared marker'));
    const before = await settledWakeupFetches(layout);
    assert.equal((await post(layout, alice, 1, 'shared broadcast')).status, 201);
    for (const c of clients) await c.until((x) => x.bodies().includes('shared broadcast'));
    assert.equal((await settledWakeupFetches(layout)) - before, 1);
    for (const c of clients) assert.deepEqual(c.bodies(), ['shared marker', 'shared broadcast']);
    for (const c of clients) c.ws.close(1000);
  });

  test('a wake-up with more rows than one fetch reads reaches every socket whole, once, in order', async () => {
    const alice = await login(layout, 'user1');
    const bob = await login(layout, 'user2');
    const [both, one] = await Promise.all([alice, bob].map((t) => Client.open(layout, t)));
    assert.ok(both && one);
    assert.equal((await post(layout, alice, 1, 'bulk marker')).status, 201);
    const last = (await poll(layout, bob, ['channel:1'], 0, 0)).body.last - 1;
    both.subscribe(['channel:1', 'channel:3'], last);
    one.subscribe(['channel:1'], last);
    for (const c of [both, one]) await c.until((x) => x.bodies().includes('bulk marker'));
    // 1500 rows on two channels in one commit and one NOTIFY: the shared fetch for both sockets
    // reads 1000 of them (its LIMIT), of which only about 500 are the channel:1 socket's.
    await sql(
      layout.databaseUrl,
      `INSERT INTO bus_notifications (channel, payload)
       SELECT CASE WHEN i % 2 = 1 THEN 'channel:1' ELSE 'channel:3' END,
              jsonb_build_object('type', 'message', 'message', jsonb_build_object('body', 'bulk ' || i))
       FROM generate_series(1, 1500) i ORDER BY i`,
    );
    await sql(layout.databaseUrl, `SELECT pg_notify('imbus', '["channel:1","channel:3"]')`);
    const bulk = Array.from({ length: 1500 }, (_, i) => `bulk ${i + 1}`);
    const expected = new Map([
      [both, ['bulk marker', ...bulk]],
      [one, ['bulk marker', ...bulk.filter((_, i) => i % 2 === 0)]],
    ]);
    for (const [c, bodies] of expected) {
      await c.until((x) => x.bodies().length >= bodies.length);
      assert.deepEqual(c.bodies(), bodies);
    }
    for (const c of [both, one]) c.ws.close(1000);
  });

  test("deploy/nginx's single-process.conf passes /websocket on with the Upgrade headers", async (t) => {
    const nginx = await startNginx(t, 'single-process.conf', { 'http://single-process:8069': layout.url });
    if (!nginx) return;
    try {
      await checkThroughNginx(layout, nginx.origin);
    } finally {
      await nginx.stop();
    }
  });

  test('every layout config of deploy/nginx has the same /websocket location', async () => {
    const location = async (layout: string) =>
      (
        /location = \/websocket \{([^}]*)\}/.exec(await readFile(join(NGINX_DIR, `${layout}.conf`), 'utf8'))?.[1] ?? ''
      ).replace(/set \$bus \S+;/, '');
    const reference = await location('single-process');
    assert.match(reference, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(reference, /proxy_set_header Connection \$connection_upgrade;/);
    for (const layout of TOPOLOGIES) assert.equal(await location(layout), reference, layout);
    assert.match(await readFile(join(NGINX_DIR, 'common.conf'), 'utf8'), /map \$http_upgrade \$connection_upgrade/);
  });
});

describe('websocket: worker-threads with --poll-holds-thread', () => {
  let layout: Layout;
  before(async () => {
    layout = await startLayout('worker-threads', ['--poll-holds-thread', 'true']);
  });
  after(async () => {
    assert.equal(await layout.stop(), 0, layout.log());
  });

  test('a socket still follows from the main thread, which relays each NOTIFY to it as to the threads', async () => {
    const bob = await login(layout, 'user2');
    const client = await Client.open(layout, bob);
    client.subscribe(['channel:1'], 0);
    const polled = poll(layout, bob, ['channel:1'], (await poll(layout, bob, ['channel:1'], 0, 0)).body.last, 10);
    await eventually(async () => (metric(await metrics(layout), 'busbench_bus_parked_polls') >= 1 ? true : undefined));
    assert.equal((await post(layout, bob, 1, 'held thread')).status, 201);
    await client.until((c) => c.bodies().includes('held thread'));
    assert.deepEqual(
      (await polled).body.notifications.map((n) => n.payload.message.body),
      ['held thread'],
    );
    client.ws.close(1000);
  });
});
