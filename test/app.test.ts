// The App in this process against a real PostgreSQL: plain requests to App.handle, no child
// process and no socket, so a broken endpoint shows in about a second. Wake-ups still go
// through real LISTEN/NOTIFY. contract.test.ts asks the same of every layout over HTTP.
// Seed (the SMALL_DATA of helpers.ts): 20 users, 5 channels; user1 is in channels 1 and 3.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { prepareDatabase } from '../src/app/migrate.js';
import { type AppStack, createAppStack } from '../src/app/stack.js';
import { loadConfig } from '../src/lib/server-options.js';
import { eventually, freshDatabase, sql } from './helpers.js';

interface Answer<T> {
  status: number;
  headers: Record<string, string>;
  body: T;
}

interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

interface Polled {
  notifications: { id: number; channel: string; payload: { type: string; message: { body: string } } }[];
  last: number;
}

/** A 400 E_BAD_INPUT that names `field` and says what is wrong with it (`message`). */
function assertBadInput(res: Answer<ErrorBody>, field: string, message: RegExp, what: string): void {
  assert.equal(res.status, 400, what);
  assert.equal(res.body.error.code, 'E_BAD_INPUT', what);
  assert.equal(res.body.error.field, field, what);
  assert.match(res.body.error.message, message, what);
}

describe('the App in process', () => {
  let stack: AppStack;
  let databaseUrl: string;
  let alice: string; // user1

  async function call<T = ErrorBody>(
    method: string,
    url: string,
    options: { token?: string; body?: unknown } = {},
  ): Promise<Answer<T>> {
    const { body } = options;
    const res = await stack.app.handle({
      method,
      url,
      host: '127.0.0.1:8069',
      proxied: false,
      authorization: options.token ? `Bearer ${options.token}` : undefined,
      body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: JSON.parse(res.body) as T };
  }

  async function login(user: string): Promise<string> {
    const res = await call<{ token: string }>('POST', '/session', { body: { login: user, password: 'busbench' } });
    assert.equal(res.status, 201);
    return res.body.token;
  }

  const poll = (token: string, channels: string[], last: number, timeout?: number) =>
    call<Polled>('POST', '/bus/poll', {
      token,
      body: { channels, last, ...(timeout === undefined ? {} : { options: { timeout } }) },
    });

  const count = async (table: string) =>
    (await sql<{ n: number }>(databaseUrl, `SELECT count(*)::int AS n FROM ${table}`))[0]?.n;

  before(async () => {
    databaseUrl = await freshDatabase();
    // No environment: the runner's DATABASE_URL or BUSBENCH_* must not change what is tested.
    const config = loadConfig(
      {
        databaseUrl,
        topology: 'single-process',
        users: '20',
        channels: '5',
        channelsPerUser: '1',
        pollTimeout: '2',
        maxParked: '1',
      },
      {},
    );
    await prepareDatabase(databaseUrl, config);
    stack = await createAppStack({
      config,
      serves: 'all',
      role: 'http',
      index: 0,
      processName: 'main',
      notifications: 'listen',
      defaultMetrics: false,
    });
    alice = await login('user1');
  });
  after(async () => {
    await stack.close();
  });

  test('login answers 201 with a token; a wrong password gets 401 E_UNAUTHORIZED', async () => {
    const ok = await call<{ token: string; user: { login: string } }>('POST', '/session', {
      body: { login: 'user2', password: 'busbench' },
    });
    assert.equal(ok.status, 201);
    assert.match(ok.body.token, /^[\w-]{20,}$/);
    assert.equal(ok.body.user.login, 'user2');
    const wrong = await call('POST', '/session', { body: { login: 'user2', password: 'nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['content-type'], 'application/json');
    assert.equal(wrong.body.error.code, 'E_UNAUTHORIZED');
    const anonymous = await call('GET', '/channels');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'E_UNAUTHORIZED');
  });

  test("GET /channels lists the user's channels and their member counts", async () => {
    const res = await call<{ channels: { id: number; name: string; members: number }[] }>('GET', '/channels', {
      token: alice,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.channels.map((c) => c.id),
      [1, 3],
    );
    assert.deepEqual(res.body.channels[0], { id: 1, name: 'general', members: 20 });
  });

  test('a posted message comes back in history, oldest first, paged with next_before', async () => {
    for (const text of ['first', 'second', 'third']) {
      const sent = await call<{ message: { body: string; author_id: number } }>('POST', '/channels/3/messages', {
        token: alice,
        body: { body: text },
      });
      assert.equal(sent.status, 201);
      assert.equal(sent.body.message.body, text);
      assert.equal(sent.body.message.author_id, 1);
    }
    type Page = { messages: { id: number; body: string }[]; next_before: number | null };
    const page = await call<Page>('GET', '/channels/3/messages?limit=2', { token: alice });
    assert.equal(page.status, 200);
    assert.deepEqual(
      page.body.messages.map((m) => m.body),
      ['second', 'third'],
    );
    assert.equal(page.body.next_before, page.body.messages[0]?.id);
    const older = await call<Page>('GET', `/channels/3/messages?limit=2&before=${page.body.next_before}`, {
      token: alice,
    });
    assert.deepEqual(
      older.body.messages.map((m) => m.body),
      ['first'],
    );
    assert.equal(older.body.next_before, null, 'a short page is the last one');
  });

  test('a poll with last=0 returns the recent notifications and the highest id as last', async () => {
    const sent = await call<{ message: { id: number } }>('POST', '/channels/3/messages', {
      token: alice,
      body: { body: 'recent' },
    });
    assert.equal(sent.status, 201);
    const res = await poll(alice, ['channel:3'], 0, 0);
    assert.equal(res.status, 200);
    const bodies = res.body.notifications.map((n) => n.payload.message.body);
    assert.equal(bodies.at(-1), 'recent');
    assert.ok(res.body.notifications.every((n) => n.channel === 'channel:3' && n.payload.type === 'message'));
    assert.equal(res.body.last, Math.max(...res.body.notifications.map((n) => n.id)));
  });

  test('a parked poll is woken through LISTEN/NOTIFY by a post and returns it', async () => {
    const bob = await login('user2');
    const { last } = (await poll(bob, ['channel:1'], 0, 0)).body;
    const parked = poll(bob, ['channel:1'], last);
    await eventually(async () => (stack.bus?.parked === 1 ? true : undefined));
    const sent = await call('POST', '/channels/1/messages', { token: alice, body: { body: 'wake up' } });
    assert.equal(sent.status, 201);
    const got = await parked;
    assert.equal(got.status, 200);
    // A poll that timed out answers empty: the message means the NOTIFY woke it.
    assert.deepEqual(
      got.body.notifications.map((n) => n.payload.message.body),
      ['wake up'],
    );
    assert.equal(got.body.last, got.body.notifications[0]?.id);
    assert.equal(stack.bus?.parked, 0);
  });

  test('a poll past --max-parked gets 503 E_TOO_MANY_POLLS with Retry-After', async () => {
    const { last } = (await poll(alice, ['channel:3'], 0, 0)).body;
    const parked = poll(alice, ['channel:3'], last);
    await eventually(async () => (stack.bus?.parked === 1 ? true : undefined));
    const refused = await poll(alice, ['channel:3'], last);
    assert.equal(refused.status, 503);
    assert.equal((refused.body as unknown as ErrorBody).error.code, 'E_TOO_MANY_POLLS');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.equal((await call('POST', '/channels/3/messages', { token: alice, body: { body: 'release' } })).status, 201);
    assert.equal((await parked).body.notifications[0]?.payload.message.body, 'release');
  });

  test('bad input answers 400 E_BAD_INPUT naming the field and writes nothing', async () => {
    const messages = await count('messages');
    const notifications = await count('bus_notifications');
    const cases: [method: string, url: string, body: unknown, field: string][] = [
      ['POST', '/channels/1/messages', { body: '' }, 'body'],
      ['POST', '/channels/1/messages', { body: 'x'.repeat(4001) }, 'body'],
      ['POST', '/channels/1/messages', { body: 'ok', client_id: 7 }, 'client_id'],
      ['POST', '/channels/1/messages', [1, 2], 'body'],
      ['POST', '/channels/abc/messages', { body: 'x' }, 'channel id'],
      ['GET', '/channels/1/messages?limit=500', undefined, 'limit'],
      ['POST', '/bus/poll', { channels: ['channel:1'], last: -1 }, 'last'],
      ['POST', '/bus/poll', { channels: ['nope'] }, 'channels[0]'],
      ['POST', '/bus/poll', { channels: [] }, 'channels'],
      ['POST', '/bus/poll', { channels: ['channel:1'], options: { timeout: 999 } }, 'options.timeout'],
      ['POST', '/presence', { status: 'asleep' }, 'status'],
      ['GET', '/presence', undefined, 'user_ids'],
    ];
    for (const [method, url, body, field] of cases) {
      const res = await call(method, url, { token: alice, body });
      const what = `${method} ${url} ${JSON.stringify(body)}`;
      assertBadInput(res, field, new RegExp(`^${field.replace(/[[\].]/g, '\\$&')} `), what);
    }
    assert.equal(await count('messages'), messages, 'no message written');
    assert.equal(await count('bus_notifications'), notifications, 'no notification written');
  });

  test('a NUL character in any string field answers 400 E_BAD_INPUT naming the field and writes nothing', async () => {
    const tables = ['messages', 'bus_notifications', 'sessions'];
    const counts = await Promise.all(tables.map(count));
    const cases: [url: string, body: Record<string, string>, field: string][] = [
      ['/channels/1/messages', { body: 'before\u0000after' }, 'body'],
      ['/channels/1/messages', { body: 'ok', client_id: 'tab\u0000' }, 'client_id'],
      ['/session', { login: 'user1\u0000', password: 'busbench' }, 'login'],
      ['/session', { login: 'user1', password: 'bus\u0000bench' }, 'password'],
    ];
    for (const [url, body, field] of cases) {
      const res = await call('POST', url, { token: alice, body });
      const what = `POST ${url} ${JSON.stringify(body)}`;
      assertBadInput(res, field, new RegExp(`^${field} .*\\\\u0000`), what);
    }
    assert.deepEqual(await Promise.all(tables.map(count)), counts, 'nothing written');
  });

  test('an id past the 32-bit integer columns answers 400 E_BAD_INPUT naming the field and writes nothing', async () => {
    const tables = ['messages', 'bus_notifications', 'channel_members'];
    const counts = await Promise.all(tables.map(count));
    for (const id of [2 ** 31, 2 ** 53 - 1]) {
      const cases: [method: string, url: string, body: unknown, field: string][] = [
        ['GET', `/channels/${id}/messages`, undefined, 'channel id'],
        ['POST', `/channels/${id}/messages`, { body: 'x' }, 'channel id'],
        ['GET', `/channels/1/messages?before=${id}`, undefined, 'before'],
        ['POST', '/channels/1/members', { user_id: id }, 'user_id'],
        ['DELETE', `/channels/1/members/${id}`, undefined, 'user id'],
        ['GET', `/presence?user_ids=1,${id}`, undefined, 'user_ids[1]'],
      ];
      for (const [method, url, body, field] of cases) {
        const res = await call(method, url, { token: alice, body });
        const what = `${method} ${url} ${JSON.stringify(body)}`;
        assertBadInput(res, field, /2147483647/, what);
      }
    }
    const largest = 2 ** 31 - 1;
    const fits: [method: string, url: string, body: unknown, status: number][] = [
      ['GET', `/channels/${largest}/messages`, undefined, 404],
      ['GET', `/channels/1/messages?before=${largest}`, undefined, 200],
      ['POST', '/channels/1/members', { user_id: largest }, 404],
      ['DELETE', `/channels/1/members/${largest}`, undefined, 404],
      ['GET', `/presence?user_ids=${largest}`, undefined, 200],
    ];
    for (const [method, url, body, status] of fits) {
      assert.equal((await call(method, url, { token: alice, body })).status, status, `${method} ${url}`);
    }
    // Channel names stay text all the way to SQL, and `last` is a bigint cursor.
    assert.equal((await poll(alice, ['channel:3000000000'], 0, 0)).status, 403);
    assert.equal((await poll(alice, ['user:3000000000'], 0, 0)).status, 403);
    const beyond = await poll(alice, ['channel:1'], 2 ** 40, 0);
    assert.deepEqual([beyond.status, beyond.body.last], [200, 2 ** 40]);
    assert.deepEqual(await Promise.all(tables.map(count)), counts, 'nothing written');
  });

  test('malformed percent-encoding in a path answers 400 E_BAD_INPUT for the path and writes nothing', async () => {
    const messages = await count('messages');
    const cases: [method: string, url: string, body?: unknown][] = [
      ['GET', '/channels/%E0%A4%A/messages'],
      ['POST', '/channels/%E0%A4%A/messages', { body: 'x' }],
      ['DELETE', '/channels/1/members/%E0%A4%A'],
      ['GET', '/assets/%E0%A4%A'],
    ];
    for (const [method, url, body] of cases) {
      const res = await call(method, url, { token: alice, body });
      assertBadInput(res, 'path', /^path .*percent-encoding/, `${method} ${url}`);
    }
    assert.equal((await call('GET', '/channels/%31/messages', { token: alice })).status, 200, 'well-formed decodes');
    assert.equal(await count('messages'), messages);
  });

  test('malformed JSON answers 400 E_BAD_JSON and writes nothing', async () => {
    const messages = await count('messages');
    const res = await call('POST', '/channels/1/messages', { token: alice, body: '{"body": ' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'E_BAD_JSON');
    assert.equal(await count('messages'), messages);
  });

  test('an unknown path answers 404 E_NOT_FOUND and a wrong method 405 E_METHOD', async () => {
    const nowhere = await call('GET', '/nowhere', { token: alice });
    assert.equal(nowhere.status, 404);
    assert.equal(nowhere.body.error.code, 'E_NOT_FOUND');
    const noChannel = await call('GET', '/channels/99/messages', { token: alice });
    assert.equal(noChannel.status, 404);
    assert.equal(noChannel.body.error.code, 'E_NOT_FOUND');
    const wrongMethod = await call('PUT', '/channels', { token: alice });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.body.error.code, 'E_METHOD');
  });

  test("reading, posting or polling outside one's channels answers 403 E_FORBIDDEN and writes nothing", async () => {
    const messages = await count('messages');
    const cases: [send: () => Promise<Answer<unknown>>, field: string][] = [
      [() => call('POST', '/channels/4/messages', { token: alice, body: { body: 'intruder' } }), 'channel id'],
      [() => call('GET', '/channels/4/messages', { token: alice }), 'channel id'],
      [() => poll(alice, ['channel:4'], 0, 0), 'channels[0]'],
      [() => poll(alice, ['channel:1', 'user:2'], 0, 0), 'channels[1]'],
      [() => call('POST', '/presence', { token: alice, body: { status: 'away', user_id: 2 } }), 'user_id'],
    ];
    for (const [send, field] of cases) {
      const res = await send();
      const { error } = res.body as ErrorBody;
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(error.code, 'E_FORBIDDEN');
      assert.equal(error.field, field);
    }
    assert.equal(await count('messages'), messages);
  });

  test('GET /presence reads the status a user set, and offline for one who never polled', async () => {
    const set = await call<{ user_id: number; status: string }>('POST', '/presence', {
      token: alice,
      body: { status: 'away' },
    });
    assert.deepEqual([set.status, set.body], [200, { user_id: 1, status: 'away' }]);
    const res = await call<{ presence: { user_id: number; status: string }[] }>('GET', '/presence?user_ids=1,3', {
      token: alice,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.presence.map((p) => [p.user_id, p.status]),
      [
        [1, 'away'],
        [3, 'offline'],
      ],
    );
  });
});
