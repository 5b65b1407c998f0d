// The contract every layout must honour: the same requests get the same answers whether
// one process, a thread pool, forked workers or a dedicated bus process serves them.
// Seed used here (SMALL_DATA): 20 users, 5 channels; user1 is in channels 1 and 3, user2 in
// 1 and 4, user4 in 1 and 2.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  eventually,
  type Layout,
  login,
  metric,
  metrics,
  poll,
  post,
  rawRequest,
  request,
  sql,
  startLayout,
  TOPOLOGIES,
} from './helpers.js';

for (const topology of TOPOLOGIES) {
  describe(`contract: ${topology}`, () => {
    let layout: Layout;
    let alice: string; // user1
    let bob: string; // user2

    before(async () => {
      layout = await startLayout(topology, ['--max-parked', '6', '--poll-timeout', '20']);
      alice = await login(layout, 'user1');
      bob = await login(layout, 'user2');
    });
    after(async () => {
      assert.equal(await layout.stop(), 0, layout.log());
    });

    test('login gives a token; a wrong password or login gets 401', async () => {
      const ok = await request<{ token: string; user: { login: string } }>('POST', `${layout.url}/session`, {
        body: { login: 'user3', password: 'busbench' },
      });
      assert.equal(ok.status, 201);
      assert.match(ok.body.token, /^[\w-]{20,}$/);
      assert.equal(ok.body.user.login, 'user3');
      const wrong = await request('POST', `${layout.url}/session`, { body: { login: 'user3', password: 'nope' } });
      assert.equal(wrong.status, 401);
      assert.equal((wrong.body.error as { code: string }).code, 'E_UNAUTHORIZED');
      const missing = await request('POST', `${layout.url}/session`, { body: { password: 'busbench' } });
      assert.equal(missing.status, 400);
      assert.equal((missing.body.error as { field: string }).field, 'login');
    });

    test('a poll whose client hangs up leaves the server at once, not at its timeout', async () => {
      const parked = async () => metric(await metrics(layout), 'busbench_bus_parked_polls');
      const body = JSON.stringify({
        channels: ['channel:1'],
        last: (await poll(layout, bob, ['channel:1'], 0, 0)).body.last,
      });
      const { hostname, port } = new URL(layout.busUrl);
      const socket = net.connect(Number(port), hostname);
      socket.on('error', () => {});
      socket.write(
        `POST /bus/poll HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${bob}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await eventually(async () => ((await parked()) === 1 ? true : undefined));
      const hungUpAt = Date.now();
      socket.destroy();
      // The poll timeout is 20 s here: well under it means the hang-up, not the timeout, ended it.
      await eventually(async () => ((await parked()) === 0 ? true : undefined), 5000);
      assert.ok(Date.now() - hungUpAt < 5000);
    });

    test('a parked poll is woken by a post and returns it', async () => {
      const { last } = (await poll(layout, bob, ['channel:1'], 0, 0)).body;
      const parked = poll(layout, bob, ['channel:1'], last);
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_bus_parked_polls') >= 1 ? true : undefined,
      );
      const sent = await post(layout, alice, 1, `wake ${topology}`);
      assert.equal(sent.status, 201);
      const started = Date.now();
      const got = await parked;
      assert.equal(got.status, 200);
      assert.ok(Date.now() - started < 5000, 'woken, not timed out');
      assert.deepEqual(
        got.body.notifications.map((n) => n.payload.message.body),
        [`wake ${topology}`],
      );
    });

    test('a poll with `last` gets exactly the newer notifications, in order', async () => {
      const first = await poll(layout, bob, ['channel:1'], 0, 0);
      const last = first.body.last;
      for (const text of ['one', 'two', 'three']) assert.equal((await post(layout, alice, 1, text)).status, 201);
      const got = await poll(layout, bob, ['channel:1'], last, 5);
      assert.deepEqual(
        got.body.notifications.map((n) => n.payload.message.body),
        ['one', 'two', 'three'],
      );
      assert.ok(got.body.notifications.every((n, i, all) => i === 0 || n.id > (all[i - 1]?.id ?? 0)));
      assert.equal(got.body.last, got.body.notifications.at(-1)?.id);
    });

    test('history pages backwards with before/limit', async () => {
      for (let i = 0; i < 5; i++) await post(layout, alice, 3, `h${i}`);
      const page = await request<{ messages: { id: number; body: string }[]; next_before: number }>(
        'GET',
        `${layout.url}/channels/3/messages?limit=3`,
        { token: alice },
      );
      assert.equal(page.status, 200);
      assert.deepEqual(
        page.body.messages.map((m) => m.body),
        ['h2', 'h3', 'h4'],
      );
      const older = await request<{ messages: { body: string }[] }>(
        'GET',
        `${layout.url}/channels/3/messages?limit=3&before=${page.body.next_before}`,
        { token: alice },
      );
      assert.deepEqual(
        older.body.messages.map((m) => m.body),
        ['h0', 'h1'],
      );
    });

    test('channel list shows only the member channels', async () => {
      const list = await request<{ channels: { id: number }[] }>('GET', `${layout.url}/channels`, { token: alice });
      assert.deepEqual(
        list.body.channels.map((c) => c.id),
        [1, 3],
      );
    });

    test('presence: set own status, read it back; writing another user is 403', async () => {
      const set = await request('POST', `${layout.url}/presence`, { token: alice, body: { status: 'away' } });
      assert.equal(set.status, 200);
      const got = await request<{ presence: { user_id: number; status: string }[] }>(
        'GET',
        `${layout.url}/presence?user_ids=1`,
        { token: bob },
      );
      assert.equal(got.body.presence[0]?.status, 'away');
      const other = await request('POST', `${layout.url}/presence`, {
        token: alice,
        body: { status: 'online', user_id: 2 },
      });
      assert.equal(other.status, 403);
      assert.equal((other.body.error as { field: string }).field, 'user_id');
    });

    test('authorization: no reading, posting or polling outside one’s channels', async () => {
      const cases = [
        await poll(layout, alice, ['channel:4'], 0, 0),
        await poll(layout, alice, ['user:2'], 0, 0),
        await post(layout, alice, 4, 'intruder'),
        await request('GET', `${layout.url}/channels/4/messages`, { token: alice }),
      ];
      for (const reply of cases) {
        assert.equal(reply.status, 403, reply.text);
        assert.equal((reply.body as { error: { code: string } }).error.code, 'E_FORBIDDEN');
      }
      const rows = await sql<{ n: number }>(
        layout.databaseUrl,
        "SELECT count(*)::int AS n FROM messages WHERE body = 'intruder'",
      );
      assert.equal(rows[0]?.n, 0);
    });

    test('bad input gets 4xx JSON naming the problem and writes nothing', async () => {
      const before = (await sql<{ n: number }>(layout.databaseUrl, 'SELECT count(*)::int AS n FROM messages'))[0]?.n;
      // One at a time: worker-threads would queue (or refuse) a burst, which is not what this tests.
      const expectations: [() => Promise<{ status: number; body: unknown; text: string }>, number, string, string?][] =
        [
          [
            () => request('POST', `${layout.url}/channels/1/messages`, { token: alice, body: '{"body": ' }),
            400,
            'E_BAD_JSON',
          ],
          [
            () => request('POST', `${layout.url}/channels/1/messages`, { token: alice, body: { body: '' } }),
            400,
            'E_BAD_INPUT',
            'body',
          ],
          [
            () =>
              request('POST', `${layout.url}/channels/1/messages`, { token: alice, body: { body: 'x'.repeat(4001) } }),
            400,
            'E_BAD_INPUT',
            'body',
          ],
          [
            () =>
              request('POST', `${layout.url}/channels/1/messages`, {
                token: alice,
                body: { body: 'ok', client_id: 7 },
              }),
            400,
            'E_BAD_INPUT',
            'client_id',
          ],
          [
            () => request('POST', `${layout.url}/channels/abc/messages`, { token: alice, body: { body: 'x' } }),
            400,
            'E_BAD_INPUT',
            'channel id',
          ],
          [() => request('POST', `${layout.url}/channels/1/messages`, { body: { body: 'x' } }), 401, 'E_UNAUTHORIZED'],
          [
            () => request('POST', `${layout.url}/channels/1/messages`, { token: 'forged', body: { body: 'x' } }),
            401,
            'E_UNAUTHORIZED',
          ],
          [
            () => request('POST', `${layout.url}/channels/99/messages`, { token: alice, body: { body: 'x' } }),
            404,
            'E_NOT_FOUND',
          ],
          [() => request('GET', `${layout.url}/nowhere`, { token: alice }), 404, 'E_NOT_FOUND'],
          [() => request('PUT', `${layout.url}/channels`, { token: alice }), 405, 'E_METHOD'],
          [
            () =>
              request('POST', `${layout.url}/channels/1/messages`, {
                token: alice,
                body: { body: 'x'.repeat(70_000) },
              }),
            413,
            'E_TOO_LARGE',
          ],
          [
            () =>
              request('POST', `${layout.busUrl}/bus/poll`, {
                token: alice,
                body: { channels: ['channel:1'], last: -1 },
              }),
            400,
            'E_BAD_INPUT',
            'last',
          ],
          [
            () => request('POST', `${layout.busUrl}/bus/poll`, { token: alice, body: { channels: ['nope'] } }),
            400,
            'E_BAD_INPUT',
            'channels[0]',
          ],
          [
            () =>
              request('POST', `${layout.busUrl}/bus/poll`, {
                token: alice,
                body: { channels: ['channel:1'], options: { timeout: 999 } },
              }),
            400,
            'E_BAD_INPUT',
            'options.timeout',
          ],
          [
            () =>
              request('POST', `${layout.busUrl}/bus/poll`, {
                token: alice,
                body: { channels: ['channel:1'], options: { timeout: '5' } },
              }),
            400,
            'E_BAD_INPUT',
            'options.timeout',
          ],
        ];
      for (const [send, status, code, field] of expectations) {
        const reply = await send();
        assert.equal(reply.status, status, reply.text);
        const error = (reply.body as { error: { code: string; message: string; field?: string } }).error;
        assert.equal(error.code, code, reply.text);
        assert.ok(error.message.length > 10);
        assert.doesNotMatch(reply.text, /at \w+ \(|\.js:\d+/, 'no stack trace');
        if (field) assert.equal(error.field, field);
      }
      const after = (await sql<{ n: number }>(layout.databaseUrl, 'SELECT count(*)::int AS n FROM messages'))[0]?.n;
      assert.equal(after, before, 'no half-written rows');
      assert.equal((await request('GET', `${layout.url}/healthz`)).status, 200, 'still up');
    });

    test('a request Node’s parser refuses gets the JSON 400 from every process', async () => {
      for (const url of new Set([layout.url, layout.busUrl])) {
        const reply = await rawRequest(
          url,
          'POST /session HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        );
        assert.equal(reply.status, 400, reply.statusLine);
        assert.equal(reply.headers['content-type'], 'application/json');
        assert.equal((JSON.parse(reply.text) as { error: { code: string } }).error.code, 'E_BAD_REQUEST');
        assert.equal((await request('GET', `${url}/healthz`)).status, 200, 'still up');
      }
    });

    test('too many parked polls get 503 with Retry-After', async () => {
      // Two tabs each for 12 users: enough polls to pass the limit, too few per user for
      // presence conflicts to exhaust their retries (that would be a 409, tested elsewhere).
      const tokens: string[] = [];
      for (let i = 5; i < 17; i++) tokens.push(await login(layout, `user${i}`));
      const polls = [...tokens, ...tokens].map((token) => poll(layout, token, ['channel:1'], 1_000_000, 3));
      const replies = await Promise.all(polls);
      const refused = replies.filter((r) => r.status === 503);
      assert.ok(refused.length > 0, `statuses: ${replies.map((r) => r.status).join(',')}`);
      for (const r of refused) {
        assert.ok(Number(r.headers['retry-after']) > 0);
        assert.match((r.body as unknown as { error: { code: string } }).error.code, /^E_(TOO_MANY_POLLS|BUSY)$/);
      }
      assert.ok(replies.every((r) => r.status === 200 || r.status === 503));
    });

    test('a membership change reaches every process through cache signaling', async () => {
      // user4 is not in channel 3; ask often enough that every worker caches that.
      for (let i = 0; i < 6; i++) assert.equal((await post(layout, await login(layout, 'user4'), 3, 'no')).status, 403);
      const added = await request('POST', `${layout.url}/channels/3/members`, { token: alice, body: { user_id: 4 } });
      assert.equal(added.status, 201, added.text);
      const carol = await login(layout, 'user4');
      for (let i = 0; i < 6; i++) assert.equal((await post(layout, carol, 3, `yes ${i}`)).status, 201);
      const text = await metrics(layout);
      // Forked workers each cached user4's channels, and only the signal can clear the other's.
      if (topology === 'cluster-fork' || topology === 'dedicated-longpoll') {
        assert.ok(metric(text, 'busbench_cache_invalidations_total') >= 1);
      }
      assert.ok(metric(text, 'busbench_cache_checks_total') > 10);
      const removed = await request('DELETE', `${layout.url}/channels/3/members/4`, { token: alice });
      assert.equal(removed.status, 200);
      assert.equal((await post(layout, carol, 3, 'gone')).status, 403);
    });

    test('/metrics aggregates the layout; /config says where the bus is', async () => {
      const text = await metrics(layout);
      assert.ok(metric(text, 'busbench_tx_commits_total', { endpoint: 'chat.post' }) >= 4);
      assert.ok(metric(text, 'busbench_http_requests_total', { endpoint: 'bus.poll', status: '200' }) >= 3);
      assert.match(text, /busbench_bus_parked_polls\{[^}]*process="/);
      assert.match(text, new RegExp(`topology="${topology}"`));
      assert.match(text, /process_resident_memory_bytes\{/);
      const config = await request<{ topology: string; bus_url: string | null }>('GET', `${layout.url}/config`);
      assert.equal(config.body.topology, topology);
      const proxied = await request<{ bus_url: string | null }>('GET', `${layout.url}/config`, {
        headers: { 'x-forwarded-for': '10.0.0.7' },
      });
      assert.equal(proxied.body.bus_url, null, 'behind a reverse proxy /bus/ is on the same origin');
      // dedicated-longpoll's own origin for the bus (--bus-origin separate) is tested in one-origin.test.ts.
      if (topology === 'dedicated-longpoll' && layout.busUrl !== layout.url) {
        assert.equal(config.body.bus_url, layout.busUrl);
        const misrouted = await request('POST', `${layout.url}/bus/poll`, {
          token: alice,
          body: { channels: ['channel:1'] },
        });
        assert.equal(misrouted.status, 404);
        assert.equal((misrouted.body.error as { code: string }).code, 'E_WRONG_PROCESS');
        assert.match((misrouted.body.error as { message: string }).message, new RegExp(layout.busUrl));
      } else {
        assert.equal(config.body.bus_url, null);
      }
    });

    test('the database shows the layout’s connections under their application names', async () => {
      const rows = await sql<{ application_name: string }>(
        layout.databaseUrl,
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'busbench/%'",
      );
      const names = rows.map((r) => r.application_name);
      assert.ok(
        names.some((n) => n.startsWith(`busbench/${topology}/listen/`)),
        names.join(','),
      );
      assert.ok(
        names.every((n) => /^busbench\/[a-z-]+\/(http|bus|listen|admin)\/\d+$/.test(n)),
        names.join(','),
      );
      const listens = names.filter((n) => n.includes('/listen/')).length;
      assert.equal(listens, topology === 'cluster-fork' ? 2 : 1);
    });
  });
}
