// Every endpoint of busbench, written once. A request and its response are plain data, so
// the same App answers in the main thread, a forked worker or a piscina thread: layouts
// differ only in where this code runs, never in what it does.
import { randomBytes } from 'node:crypto';
import { errors, HttpError, toPublicError } from '../lib/errors.js';
import { origin } from '../lib/net.js';
import type { Config } from '../lib/server-options.js';
import { type Bus, busHistorySeconds, insertNotification, type Notification } from './bus.js';
import type { MembershipCache } from './cache.js';
import type { Database } from './database.js';
import { notifyChannels } from './listener.js';
import { hashPassword } from './migrate.js';
import { type PresenceStatus, recordPoll, setPresence } from './presence.js';
import { findRetryableSqlstate, type Tx } from './transaction.js';
import { idParam, integerField, type Json, MAX_ID, oneOfField, parseJsonObject, stringField } from './validate.js';
import { type WebFile, webAsset, webPage } from './web-assets.js';

export interface AppRequest {
  method: string;
  /** Path and query, as in the request line. */
  url: string;
  host: string | undefined;
  /** Came through a reverse proxy (X-Forwarded-For): the proxy routes /bus/ on the client's origin. */
  proxied: boolean;
  authorization: string | undefined;
  body: string;
  /** A GET /websocket that asks to upgrade: answered 200 when the socket may open, else with the refusal. */
  upgrade?: 'websocket';
}

export interface AppResponse {
  status: number;
  /** The route that answered ('unmatched' if none), for per-endpoint metrics. */
  endpoint: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A poll whose work before parking is done (validated, channels checked, presence written):
 * what it waits for. The process's bus answers it (answerPoll); in worker-threads that bus is
 * the main thread's dispatcher, so the wait holds no request thread.
 */
export interface PollWait {
  channels: string[];
  last: number;
  timeoutMs: number;
}

/**
 * What a websocket asks of the App after it opened, as plain data so that worker-threads can
 * run it on a request thread: a subscribe (the poll's checks and presence write) or a presence
 * update (the poll's presence write). `data` is the frame's, unchecked.
 */
export interface SocketCall {
  op: 'subscribe' | 'presence';
  authorization: string;
  data: unknown;
}

/** A subscribe's checked channels and cursor, a presence update's status, or the error a frame reports. */
export type SocketAnswer =
  | { channels: string[]; last: number }
  | { status: PresenceStatus }
  | { error: ReturnType<HttpError['toJSON']>['error'] };

/** Which paths a process answers: everything, only /bus/* (Odoo's gevent process), or all but /bus/*. */
export type Serves = 'all' | 'bus' | 'app';

interface User {
  id: number;
  login: string;
  name: string;
}

interface Call {
  user: User;
  params: string[];
  query: URLSearchParams;
  body: () => Json;
}

interface Route {
  method: string;
  pattern: RegExp;
  name: string;
  /** Public routes need no session. */
  public?: true;
  /** A JSON body, a file of the chat page (WebFile), or what a poll waits for (answered by answerPoll). */
  run: (call: Call, req: AppRequest) => Promise<{ status?: number; body: unknown } | WebFile | { wait: PollWait }>;
}

const CHANNEL_NAME = /^(channel|user):([1-9]\d{0,9})$/;
const STATUSES = ['online', 'away', 'offline'] as const;

export class App {
  readonly #config: Config;
  readonly #db: Database;
  readonly #bus: Bus | undefined;
  readonly #serves: Serves;
  readonly #cache: MembershipCache;
  /** Sessions never change once created, so a process may keep them (token -> user). */
  readonly #sessions = new Map<string, User>();
  readonly #routes: Route[];

  constructor(deps: { config: Config; db: Database; bus: Bus | undefined; serves: Serves; cache: MembershipCache }) {
    this.#config = deps.config;
    this.#db = deps.db;
    this.#bus = deps.bus;
    this.#serves = deps.serves;
    this.#cache = deps.cache;
    this.#routes = this.#defineRoutes();
  }

  /** `hungUp` is aborted when the client goes away: a parked poll then stops waiting. */
  async handle(req: AppRequest, hungUp?: AbortSignal): Promise<AppResponse> {
    const answer = await this.handleUntilParked(req);
    if (!('wait' in answer)) return answer;
    if (!this.#bus) throw new Error('unreachable: only a process with a bus hands out a poll to park');
    return answerPoll(this.#bus, answer.wait, hungUp);
  }

  /**
   * Everything `req` needs up to the moment a poll would park: the whole answer for any other
   * request (and for a poll that fails or is refused before parking), or what the poll waits for.
   */
  async handleUntilParked(req: AppRequest): Promise<AppResponse | { wait: PollWait }> {
    let endpoint = 'unmatched';
    try {
      const url = new URL(req.url, 'http://busbench');
      const { route, encoded } = this.#match(req.method, url.pathname);
      endpoint = route.name;
      this.#checkServedHere(url.pathname, req.host);
      const params = encoded.map(decodePathParam);
      let user: User = { id: 0, login: '', name: '' };
      if (!route.public) {
        await this.#cache.check();
        user = await this.#authenticate(req.authorization);
      }
      let parsed: Json | undefined;
      const body = () => (parsed ??= parseJsonObject(req.body));
      const result = await route.run({ user, params, query: url.searchParams, body }, req);
      if ('wait' in result) return result;
      if ('text' in result)
        return { status: 200, endpoint, headers: { 'content-type': result.contentType }, body: result.text };
      return respond(result.status ?? 200, endpoint, result.body);
    } catch (err) {
      if (!(err instanceof HttpError)) console.error(`[busbench] ${req.method} ${req.url} failed:`, err);
      return errorResponse(err, endpoint);
    }
  }

  #defineRoutes(): Route[] {
    return [
      {
        method: 'GET',
        pattern: /^\/config$/,
        name: 'config',
        public: true,
        run: async (_c, req) => this.#layoutConfig(req),
      },
      { method: 'POST', pattern: /^\/session$/, name: 'session.login', public: true, run: (c) => this.#login(c) },
      { method: 'POST', pattern: /^\/bus\/poll$/, name: 'bus.poll', run: (c) => this.#retriedPoll(c) },
      { method: 'GET', pattern: /^\/websocket$/, name: 'websocket', run: (c, req) => this.#websocket(c, req) },
      { method: 'GET', pattern: /^\/channels$/, name: 'chat.channels', run: (c) => this.#channels(c) },
      { method: 'GET', pattern: /^\/channels\/([^/]+)\/messages$/, name: 'chat.history', run: (c) => this.#history(c) },
      { method: 'POST', pattern: /^\/channels\/([^/]+)\/messages$/, name: 'chat.post', run: (c) => this.#post(c) },
      {
        method: 'POST',
        pattern: /^\/channels\/([^/]+)\/members$/,
        name: 'chat.members.add',
        run: (c) => this.#addMember(c),
      },
      {
        method: 'DELETE',
        pattern: /^\/channels\/([^/]+)\/members\/([^/]+)$/,
        name: 'chat.members.remove',
        run: (c) => this.#removeMember(c),
      },
      { method: 'GET', pattern: /^\/presence$/, name: 'presence.get', run: (c) => this.#presence(c) },
      { method: 'POST', pattern: /^\/presence$/, name: 'presence.set', run: (c) => this.#setPresence(c) },
      { method: 'GET', pattern: /^\/$/, name: 'web.page', public: true, run: () => webPage() },
      {
        method: 'GET',
        pattern: /^\/assets\/([^/]+)$/,
        name: 'web.asset',
        public: true,
        run: (c) => webAsset(c.params[0] ?? ''),
      },
    ];
  }

  /** The route for this method and path, and its path parameters as sent (still percent-encoded). */
  #match(method: string, path: string): { route: Route; encoded: string[] } {
    let pathMatched = false;
    for (const route of this.#routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method === method) return { route, encoded: m.slice(1) };
    }
    if (pathMatched) throw errors.methodNotAllowed(method, path);
    throw errors.notFound(`no endpoint at ${path}; see the README's endpoint list`);
  }

  /** dedicated-longpoll: the bus process answers /bus/* only, the workers everything else. */
  #checkServedHere(path: string, host: string | undefined): void {
    const isBus = path.startsWith('/bus/') || path === '/websocket';
    if (this.#serves === 'app' && isBus) throw errors.wrongProcess(path, this.#origin(host, this.#config.busPort));
    if (this.#serves === 'bus' && !isBus && path !== '/config') {
      throw errors.wrongProcess(path, this.#origin(host, this.#config.port));
    }
  }

  /** The origin a client reaches `port` at, by the host name it used for this request. */
  #origin(host: string | undefined, port: number): string {
    return origin(host ? new URL(`http://${host}`).hostname : this.#config.host, port);
  }

  async #authenticate(authorization: string | undefined): Promise<User> {
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw errors.unauthorized('no session token');
    const cached = this.#sessions.get(token);
    if (cached) return cached;
    const { rows } = await this.#db.query<User>(
      'SELECT u.id, u.login, u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = $1',
      [token],
    );
    const user = rows[0];
    if (!user) throw errors.unauthorized('unknown or expired session token');
    this.#sessions.set(token, user);
    return user;
  }

  /**
   * How a client reaches this layout: bus_url null means /bus/* is on the page's own origin.
   * Only dedicated-longpoll with --bus-origin separate puts it on another port.
   */
  #layoutConfig(req: AppRequest) {
    const separate = this.#config.topology === 'dedicated-longpoll' && this.#config.busOrigin === 'separate';
    return {
      body: {
        topology: this.#config.topology,
        // Behind a proxy (the kit's front, docker-compose's nginx, Odoo in production) /bus/ is on the same origin.
        bus_url: separate && !req.proxied ? this.#origin(req.host, this.#config.busPort) : null,
        poll_timeout: this.#config.pollTimeout,
        presence: this.#config.presence,
        isolation: this.#config.isolation,
        dispatch: this.#config.dispatch,
      },
    };
  }

  async #login(call: Call) {
    const body = call.body();
    const login = stringField(body.login, 'login', 1, 100);
    const password = stringField(body.password, 'password', 0, 200);
    await this.#cache.check();
    const { rows } = await this.#db.query<User & { password_hash: string }>(
      'SELECT id, login, name, password_hash FROM users WHERE login = $1',
      [login],
    );
    const found = rows[0];
    if (!found || found.password_hash !== hashPassword(password)) throw errors.unauthorized('wrong login or password');
    const token = randomBytes(24).toString('base64url');
    await this.#db.transaction('session.login', (tx) =>
      tx.query('INSERT INTO sessions (token, user_id) VALUES ($1, $2)', [token, found.id]),
    );
    const user = { id: found.id, login: found.login, name: found.name };
    this.#sessions.set(token, user);
    return { status: 201, body: { token, user } };
  }

  /** --poll-retry whole-request: a conflict in the poll's presence write re-runs the whole poll (Odoo 8.0). */
  #retriedPoll(call: Call) {
    return this.#config.pollRetry === 'whole-request'
      ? this.#db.wholeRequest(() => this.#poll(call))
      : this.#poll(call);
  }

  async #poll(call: Call) {
    if (!this.#bus) throw errors.notFound('this process serves no bus');
    const body = call.body();
    if (!Array.isArray(body.channels) || body.channels.length === 0 || body.channels.length > 100) {
      throw errors.badInput('channels', 'must be an array of 1 to 100 channel names like "channel:1" or "user:1"');
    }
    const last = integerField(body.last ?? 0, 'last', 0);
    const options = body.options ?? {};
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw errors.badInput('options', 'must be an object');
    }
    const opts = options as Json;
    const status: PresenceStatus = oneOfField(opts.status ?? 'online', 'options.status', STATUSES);
    const timeout = opts.timeout ?? this.#config.pollTimeout;
    if (typeof timeout !== 'number' || !(timeout >= 0 && timeout <= this.#config.pollTimeout)) {
      throw errors.badInput('options.timeout', `must be a number of seconds from 0 to ${this.#config.pollTimeout}`);
    }
    const channels = await this.#readableChannels(call.user, body.channels);
    const { presence, presenceInterval, pollRetry } = this.#config;
    await recordPoll(this.#db, presence, presenceInterval, call.user.id, status, pollRetry);
    return { wait: { channels, last, timeoutMs: timeout * 1000 } };
  }

  /** The upgrade of GET /websocket: the same session, served-here and bus checks as a poll; the socket layer opens it. */
  async #websocket(call: Call, req: AppRequest) {
    if (!this.#bus) throw errors.notFound('this process serves no bus');
    if (req.upgrade !== 'websocket') throw errors.upgradeRequired();
    return { body: { user_id: call.user.id } };
  }

  /**
   * A websocket frame's database work, done exactly as a poll does it: a subscribe is a poll's
   * validation, channel checks and presence write (status online, as Odoo's subscribe), an
   * update_presence the poll's presence write with the given status.
   */
  async socketCall(socket: SocketCall): Promise<SocketAnswer> {
    try {
      if (!this.#bus) throw errors.notFound('this process serves no bus');
      await this.#cache.check();
      const user = await this.#authenticate(socket.authorization);
      const data = socket.data;
      if (typeof data !== 'object' || data === null || Array.isArray(data)) {
        throw errors.badInput('data', 'must be an object');
      }
      const body = data as Json;
      if (socket.op === 'subscribe') {
        const result = await this.#retriedPoll({ user, params: [], query: new URLSearchParams(), body: () => body });
        return { channels: result.wait.channels, last: result.wait.last };
      }
      const status: PresenceStatus = oneOfField(body.status, 'status', STATUSES);
      const { presence, presenceInterval, pollRetry } = this.#config;
      const write = () => recordPoll(this.#db, presence, presenceInterval, user.id, status, pollRetry);
      await (pollRetry === 'whole-request' ? this.#db.wholeRequest(write) : write());
      return { status };
    } catch (err) {
      if (!(err instanceof HttpError)) console.error(`[busbench] websocket ${socket.op} failed:`, err);
      return { error: toPublicError(err).toJSON().error };
    }
  }

  async #readableChannels(user: User, names: unknown[]): Promise<string[]> {
    const member = await this.#cache.channelsOf(user.id);
    return names.map((name, i) => {
      const field = `channels[${i}]`;
      const m = typeof name === 'string' ? CHANNEL_NAME.exec(name) : null;
      if (!m) throw errors.badInput(field, 'must be a channel name like "channel:1" or "user:1"');
      const id = Number(m[2]);
      if (m[1] === 'channel' && !member.has(id)) throw errors.forbidden(field, `you are not a member of ${name}`);
      if (m[1] === 'user' && id !== user.id) throw errors.forbidden(field, `${name} is another user's private channel`);
      return name as string;
    });
  }

  async #channels(call: Call) {
    const ids = [...(await this.#cache.channelsOf(call.user.id))];
    const { rows } = await this.#db.query(
      `SELECT c.id, c.name, (SELECT count(*) FROM channel_members m WHERE m.channel_id = c.id) AS members
       FROM channels c WHERE c.id = ANY($1::int[]) ORDER BY c.id`,
      [ids],
    );
    return { body: { channels: rows } };
  }

  /** 404 for a channel that does not exist, 403 for one the user is not in. */
  async #memberChannel(call: Call): Promise<number> {
    const channelId = idParam(call.params[0], 'channel id');
    if ((await this.#cache.channelsOf(call.user.id)).has(channelId)) return channelId;
    const { rowCount } = await this.#db.query('SELECT 1 FROM channels WHERE id = $1', [channelId]);
    if (rowCount === 0) throw errors.notFound(`channel ${channelId} does not exist`);
    throw errors.forbidden('channel id', `you are not a member of channel ${channelId}`);
  }

  async #history(call: Call) {
    const channelId = await this.#memberChannel(call);
    const before = call.query.has('before') ? idParam(call.query.get('before'), 'before') : null;
    const limit = call.query.has('limit') ? integerField(Number(call.query.get('limit')), 'limit', 1, 200) : 50;
    const { rows } = await this.#db.query<{ id: number }>(
      `SELECT id, channel_id, author_id, body, client_id, created_at FROM messages
       WHERE channel_id = $1 AND ($2::int IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
      [channelId, before, limit],
    );
    rows.reverse();
    return { body: { messages: rows, next_before: rows.length === limit ? rows[0]?.id : null } };
  }

  async #post(call: Call) {
    const channelId = await this.#memberChannel(call);
    const body = call.body();
    const text = stringField(body.body, 'body', 1, 4000);
    const clientId = body.client_id === undefined ? null : stringField(body.client_id, 'client_id', 1, 100);
    const channel = `channel:${channelId}`;
    const message = await this.#db.transaction('chat.post', async (tx) => {
      const { rows } = await tx.query(
        `INSERT INTO messages (channel_id, author_id, body, client_id) VALUES ($1, $2, $3, $4)
         RETURNING id, channel_id, author_id, body, client_id, created_at`,
        [channelId, call.user.id, text, clientId],
      );
      const message = rows[0];
      await insertNotification(tx, channel, { type: 'message', message });
      // Odoo 12+: NOTIFY after commit, or a listener could wake before the row is visible.
      // --notify-before-commit: Odoo 8.0's order, on its own connection as 8.0's cr2 was.
      if (this.#config.notifyBeforeCommit) await this.#notify([channel]);
      else tx.afterCommit(() => this.#notify([channel]));
      // Odoo 8.0 garbage-collected the bus on 1 % of sends; rows older than 2 x TIMEOUT go.
      if (Math.random() < 0.01) tx.afterCommit(() => this.#collectGarbage());
      return message;
    });
    return { status: 201, body: { message } };
  }

  async #notify(channels: string[]): Promise<void> {
    try {
      await notifyChannels((sql, params) => this.#db.query(sql, params), channels);
    } catch (err) {
      // The row is committed: parked polls get it at their next wake-up or poll, by id.
      console.error(`[busbench] NOTIFY failed after commit: ${(err as Error).message}`);
    }
  }

  async #collectGarbage(): Promise<void> {
    await this.#db
      .query('DELETE FROM bus_notifications WHERE created_at < now() - make_interval(secs => $1)', [
        2 * busHistorySeconds(this.#config),
      ])
      .catch((err: Error) => console.error(`[busbench] bus garbage collection failed: ${err.message}`));
  }

  async #addMember(call: Call) {
    const channelId = await this.#memberChannel(call);
    const userId = integerField(call.body().user_id, 'user_id', 1, MAX_ID);
    const { rowCount } = await this.#db.query('SELECT 1 FROM users WHERE id = $1', [userId]);
    if (rowCount === 0) throw errors.notFound(`user ${userId} does not exist`);
    await this.#changeMembership(channelId, async (tx) => {
      const { rowCount } = await tx.query(
        'INSERT INTO channel_members (channel_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [channelId, userId],
      );
      return rowCount ?? 0;
    });
    return { status: 201, body: { channel_id: channelId, user_id: userId } };
  }

  async #removeMember(call: Call) {
    const channelId = await this.#memberChannel(call);
    const userId = idParam(call.params[1], 'user id');
    const removed = await this.#changeMembership(channelId, async (tx) => {
      const { rowCount } = await tx.query('DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2', [
        channelId,
        userId,
      ]);
      return rowCount ?? 0;
    });
    if (removed === 0) throw errors.notFound(`user ${userId} is not in channel ${channelId}`);
    return { body: { channel_id: channelId, user_id: userId, removed: true } };
  }

  /**
   * A membership change as the ORM makes it (seed 003): `change` writes the relation row and
   * returns how many it changed; --membership-write hot-row then writes the channel row too.
   * A retryable error inside comes out re-raised as a validation error (Odoo's
   * @api.constrains); the retry finds the cause in it unless --skip-unwrap.
   */
  #changeMembership(channelId: number, change: (tx: Tx) => Promise<number>): Promise<number> {
    return this.#db.transaction('chat.members', async (tx) => {
      try {
        const changed = await change(tx);
        if (changed === 0) return 0;
        if (this.#config.membershipWrite === 'hot-row') {
          await tx.query(
            `UPDATE channels SET write_date = now(),
               member_count = (SELECT count(*) FROM channel_members WHERE channel_id = $1) WHERE id = $1`,
            [channelId],
          );
        }
        this.#cache.invalidateAfterCommit(tx);
        return changed;
      } catch (err) {
        if (findRetryableSqlstate(err)) throw errors.validation(`membership change in channel ${channelId}`, err);
        throw err;
      }
    });
  }

  async #presence(call: Call) {
    const raw = call.query.get('user_ids') ?? '';
    const ids = raw
      .split(',')
      .filter(Boolean)
      .map((s, i) => idParam(s, `user_ids[${i}]`));
    if (ids.length === 0 || ids.length > 500)
      throw errors.badInput('user_ids', 'must list 1 to 500 comma-separated user ids');
    const { rows } = await this.#db.query(
      'SELECT user_id, status, last_poll, last_presence FROM presence WHERE user_id = ANY($1::int[]) ORDER BY user_id',
      [ids],
    );
    return { body: { presence: rows } };
  }

  async #setPresence(call: Call) {
    const body = call.body();
    const status = oneOfField(body.status, 'status', STATUSES);
    if (body.user_id !== undefined && body.user_id !== call.user.id) {
      throw errors.forbidden('user_id', 'you may only write your own presence');
    }
    await setPresence(this.#db, call.user.id, status);
    return { body: { user_id: call.user.id, status } };
  }
}

/** decodeURIComponent throws URIError on a truncated or non-UTF-8 escape: the client's fault, so a 400. */
function decodePathParam(param: string): string {
  try {
    return decodeURIComponent(param);
  } catch {
    throw errors.badInput(
      'path',
      'has malformed percent-encoding; escape each UTF-8 byte as % and two hex digits (é is %C3%A9)',
    );
  }
}

/** A notification as clients see it, in a poll's answer and a websocket frame alike. */
export function publicNotification(n: Notification) {
  return { id: n.id, channel: n.channel, payload: n.payload, created_at: n.created_at };
}

/**
 * A poll's second half: park on `bus` until there is something newer than `last` (or the
 * timeout), then answer. `bus` is the process's own, or worker-threads' dispatcher, which
 * passes `fetchedAfter` when a request thread already ran the first fetch (Bus.poll).
 */
export async function answerPoll(
  bus: Pick<Bus, 'poll'>,
  wait: PollWait,
  hungUp: AbortSignal | undefined,
  fetchedAfter?: number,
): Promise<AppResponse> {
  try {
    return pollResponse(wait, await bus.poll(wait.channels, wait.last, wait.timeoutMs, hungUp, fetchedAfter));
  } catch (err) {
    if (!(err instanceof HttpError)) console.error('[busbench] POST /bus/poll failed while parked:', err);
    return errorResponse(err, 'bus.poll');
  }
}

/**
 * The JSON of notifications, once per array: a shared fetch hands thousands of woken polls and
 * sockets the same rows, and serialising them per waiter was part of the broadcast's fan-out.
 */
const serialised = new WeakMap<Notification[], string>();

export function notificationsJson(notifications: Notification[]): string {
  let json = serialised.get(notifications);
  if (json === undefined) {
    json = JSON.stringify(notifications.map(publicNotification));
    serialised.set(notifications, json);
  }
  return json;
}

/** A poll's answer: its notifications and the cursor to send next. */
export function pollResponse(wait: PollWait, notifications: Notification[]): AppResponse {
  const last = Math.max(wait.last, ...notifications.map((n) => n.id));
  return {
    status: 200,
    endpoint: 'bus.poll',
    headers: { 'content-type': 'application/json' },
    body: `{"notifications":${notificationsJson(notifications)},"last":${last}}`,
  };
}

/** The answer to a failed request: code and message as JSON, and Retry-After when it has one. */
export function errorResponse(err: unknown, endpoint: string): AppResponse {
  const error = toPublicError(err);
  const headers: Record<string, string> = error.retryAfter ? { 'retry-after': String(error.retryAfter) } : {};
  return respond(error.status, endpoint, error.toJSON(), headers);
}

export function respond(
  status: number,
  endpoint: string,
  body: unknown,
  headers: Record<string, string> = {},
): AppResponse {
  return { status, endpoint, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
