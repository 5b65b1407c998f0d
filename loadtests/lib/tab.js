// What one simulated browser and its tabs do, written once for both engines: the Node runner
// (src/bench/runner.ts, undici) and the k6 scripts (http.asyncRequest). The engine passes a
// Transport; everything else - login, the poll loop with its `last` cursor, hidden tabs,
// leader sharing, posting, and the delivery bookkeeping - lives here.
// Plain JavaScript that k6 v0.46 parses (see loadtests/README.md).
import { hiddenPollDelayMs } from './load-plan.js';

/**
 * @typedef {object} Reply
 * @property {number} status HTTP status, or 0 when no answer came (connection error, timeout).
 * @property {any} body Parsed JSON, or undefined.
 *
 * @typedef {object} Transport
 * @property {(method: string, url: string, endpoint: string, body?: unknown, token?: string) => Promise<Reply>} request
 *   One request through this browser's connection pool (shared by all its tabs).
 * @property {(ms: number) => Promise<void>} sleep
 * @property {() => number} now Milliseconds since the epoch (the same clock as due times).
 * @property {() => number} random Uniform in [0, 1).
 *
 * @typedef {object} Receipt
 * @property {Tab} tab
 * @property {number} postId
 * @property {number} due When the post was due (ms since the epoch).
 * @property {number} at When this tab got it.
 * @property {'first' | 'duplicate' | 'out-of-order'} kind
 *
 * @typedef {object} BrowserOptions
 * @property {number} id
 * @property {string} login
 * @property {string} appUrl Where everything but /bus/* goes.
 * @property {string} busUrl Where /bus/* goes (the bus process in dedicated-longpoll).
 * @property {number} tabs
 * @property {import('./profiles.js').TabMode} tabMode
 * @property {boolean[]} hidden Per tab: whether it is hidden (document.hidden); see hiddenTabs in load-plan.js.
 * @property {boolean} hiddenSlowdown Whether hidden tabs wait hiddenDelay between polls (every-tab mode).
 * @property {[number, number, number]} hiddenDelay base, min, max seconds (load-plan.js HIDDEN_DELAY).
 * @property {number} pollTimeout Seconds.
 * @property {string} runTag Marks this run's posts, so other traffic on the channels is ignored.
 * @property {Transport} transport
 * @property {(receipt: Receipt) => void} onReceipt
 * @property {(withData: boolean) => void} [onPoll] Each answered poll: did it bring notifications?
 */

/** How long a tab waits after a failed poll before polling again (Odoo's client waits too). */
const RETRY_DELAY_MS = 1000;
const OPEN_TRIES = 5;

/** @param {number} status */
function isTransient(status) {
  return status === 0 || status === 409 || status >= 500;
}

/** Why a tab's sleep ended early: the run wants every tab to poll now (drain) or to stop. */
class Waker {
  constructor() {
    /** @type {Set<() => void>} */
    this.waiting = new Set();
  }

  /** @param {Transport} transport @param {number} ms */
  sleep(transport, ms) {
    return new Promise((resolve) => {
      const finish = () => {
        if (!this.waiting.delete(finish)) return;
        resolve(undefined);
      };
      this.waiting.add(finish);
      transport.sleep(ms).then(finish);
    });
  }

  wakeAll() {
    for (const finish of Array.from(this.waiting)) finish();
  }
}

export class Tab {
  /** @param {Browser} browser @param {number} index @param {boolean} hidden */
  constructor(browser, index, hidden) {
    this.browser = browser;
    this.index = index;
    this.hidden = hidden;
    /**
     * From when every post must reach this tab: its first poll's send time, moved forward on
     * the first answer to (answer time - poll timeout) when that is later, because a poll with
     * last = 0 only owes the rows of the last poll-timeout seconds. 0: never polled.
     */
    this.startedAt = 0;
    /** When the latest answered poll was sent: anything acknowledged before it must be here. */
    this.polledAt = 0;
    /** Highest bus id applied: notifications must arrive in id order. */
    this.last = 0;
    /** @type {Map<number, number>} post id -> times received */
    this.received = new Map();
    this.duplicates = 0;
    this.outOfOrder = 0;
  }

  /**
   * Applies one notification to this tab's state, in the order the bus gave it. A tab keeps
   * its state consistent only if it never applies an older notification after a newer one.
   * @param {{ id: number, payload?: any }} n
   */
  apply(n) {
    const browser = this.browser;
    const message = n.payload && n.payload.type === 'message' ? n.payload.message : undefined;
    const post = message ? parseClientId(message.client_id, browser.options.runTag) : undefined;
    const inOrder = n.id > this.last;
    if (inOrder) this.last = n.id;
    if (!post) return;
    const seen = this.received.get(post.postId) || 0;
    this.received.set(post.postId, seen + 1);
    /** @type {Receipt['kind']} */
    let kind = 'first';
    if (seen > 0) {
      kind = 'duplicate';
      this.duplicates++;
    } else if (!inOrder) {
      kind = 'out-of-order';
      this.outOfOrder++;
    }
    browser.options.onReceipt({ tab: this, postId: post.postId, due: post.due, at: browser.transport.now(), kind });
  }
}

export class Browser {
  /** @param {BrowserOptions} options */
  constructor(options) {
    this.options = options;
    this.transport = options.transport;
    /** @type {Tab[]} */
    this.tabs = [];
    for (let i = 0; i < options.tabs; i++) this.tabs.push(new Tab(this, i, options.hidden[i] === true));
    this.token = '';
    /** Channel names this browser's user may read, e.g. "channel:1", and "user:<id>". */
    /** @type {string[]} */
    this.channels = [];
    /** @type {number[]} */
    this.channelIds = [];
    this.userId = 0;
    this.stopped = false;
    this.waker = new Waker();
    /** @type {Promise<void>[]} */
    this.loops = [];
  }

  /** Logs in once (tabs share the session, like a cookie) and learns the user's channels. */
  async open() {
    const t = this.transport;
    const login = await this.retrying(() =>
      t.request('POST', `${this.options.appUrl}/session`, 'session.login', {
        login: this.options.login,
        password: 'busbench',
      }),
    );
    if (login.status !== 201) throw new Error(`login ${this.options.login}: HTTP ${login.status}`);
    this.token = login.body.token;
    this.userId = login.body.user.id;
    const listed = await this.retrying(() =>
      t.request('GET', `${this.options.appUrl}/channels`, 'chat.channels', undefined, this.token),
    );
    if (listed.status !== 200) throw new Error(`channels of ${this.options.login}: HTTP ${listed.status}`);
    this.channelIds = listed.body.channels.map((/** @type {{ id: number }} */ c) => c.id);
    this.channels = this.channelIds.map((id) => `channel:${id}`).concat([`user:${this.userId}`]);
  }

  /**
   * A person whose page failed to load (busy server, 503, 409) reloads it: up to OPEN_TRIES
   * tries, a second apart. Other answers are final.
   * @param {() => Promise<Reply>} send
   */
  async retrying(send) {
    let reply = await send();
    for (let i = 1; i < OPEN_TRIES && !this.stopped && isTransient(reply.status); i++) {
      await this.waker.sleep(this.transport, RETRY_DELAY_MS);
      reply = await send();
    }
    return reply;
  }

  /** Starts the poll loops: every tab's, or the leader's (the shared worker's) only. */
  start() {
    const pollers = this.options.tabMode === 'every-tab' ? this.tabs : [this.tabs[0]];
    for (const tab of pollers) if (tab) this.loops.push(this.pollLoop(tab));
  }

  /** @param {Tab} tab */
  async pollLoop(tab) {
    const t = this.transport;
    const o = this.options;
    // In leader (and shared-worker) mode the others are subscribed through the one poller.
    const receivers = o.tabMode === 'every-tab' ? [tab] : this.tabs;
    let first = true;
    let answered = false;
    while (!this.stopped) {
      if (tab.hidden && o.hiddenSlowdown && !first) {
        await this.waker.sleep(t, hiddenPollDelayMs(o.hiddenDelay, t.random()));
        if (this.stopped) return;
      }
      first = false;
      const sentAt = t.now();
      for (const receiver of receivers) if (receiver.startedAt === 0) receiver.startedAt = sentAt;
      const reply = await t.request(
        'POST',
        `${o.busUrl}/bus/poll`,
        'bus.poll',
        { channels: this.channels, last: tab.last, options: { timeout: o.pollTimeout } },
        this.token,
      );
      const body = reply.body;
      if (reply.status !== 200 || !body || !Array.isArray(body.notifications)) {
        if (!this.stopped) await this.waker.sleep(t, RETRY_DELAY_MS);
        continue;
      }
      if (o.onPoll) o.onPoll(body.notifications.length > 0);
      if (!answered) {
        answered = true;
        const window = t.now() - o.pollTimeout * 1000;
        for (const receiver of receivers) receiver.startedAt = Math.max(receiver.startedAt, window);
      }
      // The leader's cursor moves for everyone; each tab applies the same list in order.
      for (const receiver of receivers) {
        for (const n of body.notifications) receiver.apply(n);
        receiver.polledAt = sentAt;
      }
      tab.last = Math.max(tab.last, body.last);
    }
  }

  /**
   * Posts one chat message from `tab`, tagged with its post id and due time.
   * @param {Tab} tab @param {number} postId @param {number} due @param {'any' | 'general'} postTo
   * @param {number} [pick] Uniform in [0, 1) choosing the channel (the run's plan: postAuthors); drawn here without.
   * @returns {Promise<{ channel: number, sentAt: number, ackedAt: number, reply: Reply }>}
   */
  async post(tab, postId, due, postTo, pick) {
    const t = this.transport;
    const ids = this.channelIds;
    const u = pick === undefined ? t.random() : pick;
    const channel = postTo === 'general' ? 1 : ids[Math.floor(u * ids.length)] || 1;
    const sentAt = t.now();
    const reply = await t.request(
      'POST',
      `${this.options.appUrl}/channels/${channel}/messages`,
      'chat.post',
      {
        body: `tab ${this.options.id}.${tab.index} says hello (post ${postId})`,
        client_id: clientId(this.options.runTag, postId, due),
      },
      this.token,
    );
    return { channel, sentAt, ackedAt: t.now(), reply };
  }

  /** Drain: hidden tabs become visible and poll at once, so what is on its way arrives. */
  reveal() {
    for (const tab of this.tabs) tab.hidden = false;
    this.waker.wakeAll();
  }

  /** Ends the loops after their current request (the server answers parked polls on shutdown). */
  stop() {
    this.stopped = true;
    this.waker.wakeAll();
    return Promise.all(this.loops);
  }
}

/** @param {string} runTag @param {number} postId @param {number} due */
export function clientId(runTag, postId, due) {
  return `${runTag}:${postId}:${due}`;
}

/**
 * @param {unknown} id @param {string} runTag
 * @returns {{ postId: number, due: number } | undefined}
 */
export function parseClientId(id, runTag) {
  if (typeof id !== 'string' || !id.startsWith(`${runTag}:`)) return undefined;
  const parts = id.slice(runTag.length + 1).split(':');
  const postId = Number(parts[0]);
  const due = Number(parts[1]);
  return Number.isInteger(postId) && Number.isFinite(due) ? { postId, due } : undefined;
}
