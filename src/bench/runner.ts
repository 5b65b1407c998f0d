// The built-in load generator: simulated browsers (loadtests/lib/tab.js) on undici, each with
// one connection pool per origin capped like a real browser's, and chat posts on an open-model
// schedule. Latencies are measured from when a post was DUE, so a stalled server shows up in
// the figures instead of silently slowing the generator down (coordinated omission).
import { performance } from 'node:perf_hooks';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { countDeliveries, type DeliveryCount, type PostRecord } from '../../loadtests/lib/delivery.js';
import {
  hiddenTabs,
  isMeasured,
  LATE_TOLERANCE_MS,
  type PostAuthor,
  postAuthors,
  postOffsets,
  type Window,
} from '../../loadtests/lib/load-plan.js';
import type { Profile } from '../../loadtests/lib/profiles.js';
import { Browser, type Receipt, type Reply } from '../../loadtests/lib/tab.js';
import {
  type BusTransport,
  type Socket,
  SocketBrowser,
  type SocketEvents,
  type SocketTransport,
} from '../../loadtests/lib/ws-tab.js';
import { ConnectionPool, exchange } from './connection-pool.js';
import { newHistogram, percentiles, recordMs } from './histogram.js';
import type { CaseTotals } from './results.js';
import { type SourcePlan, sourceOf } from './socket-budget.js';

export type Phase = 'warmup' | 'measure' | 'drain';

/** What the sampler takes from the runner each second; counters are since the last call. */
export interface ClientSample {
  tabs: number;
  httpOpen: number;
  httpOpened: number;
  queued: number;
  requests: number;
  errors: number;
  deliveries: number;
  deliveryP99Ms: number | null;
}

/** Live events for an exporter (bench/load-metrics.ts); the run's totals don't depend on it. */
export interface RunnerObserver {
  /** `code` is the error body's code (E_...), when the answer had one. */
  request(endpoint: string, status: number, ms: number, code?: string): void;
  poll(withData: boolean): void;
  /** An expected post reached a tab for the first time, `latencyMs` after it was due. */
  delivered(latencyMs: number): void;
  duplicate(): void;
  postFailed(): void;
}

/** Browsers keep idle connections for a minute or more; the server keeps 65 s. */
const HTTP_KEEP_ALIVE_MS = 60_000;

/**
 * One simulated browser's network: a ConnectionPool per origin, shared by all its tabs, and
 * its websockets, which browsers open outside that pool (they have their own, larger limit).
 * All of them leave from one source address, when the runner spreads browsers over several.
 */
class BrowserTransport implements SocketTransport {
  readonly #pools = new Map<string, ConnectionPool>();
  readonly #runner: Runner;
  readonly #localAddress: string | undefined;
  readonly #keepAliveMs: number;
  open = 0;
  peakOpen = 0;

  constructor(runner: Runner, localAddress: string | undefined, keepAliveMs: number) {
    this.#runner = runner;
    this.#localAddress = localAddress;
    this.#keepAliveMs = keepAliveMs;
  }

  get queued(): number {
    let queued = 0;
    for (const pool of this.#pools.values()) queued += pool.queued;
    return queued;
  }

  #pool(origin: string): ConnectionPool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      const options = {
        // The server's Keep-Alive hint (65 s) would otherwise win over a shorter timeout.
        keepAliveTimeout: this.#keepAliveMs,
        keepAliveMaxTimeout: this.#keepAliveMs,
        ...(this.#localAddress ? { localAddress: this.#localAddress } : {}),
        headersTimeout: (this.#runner.profile.pollTimeout + 30) * 1000,
        bodyTimeout: 30_000,
      };
      pool = new ConnectionPool(origin, this.#runner.profile.connectionsPerOrigin, options, {
        connected: () => {
          this.open++;
          if (this.#runner.phase === 'measure') this.peakOpen = Math.max(this.peakOpen, this.open);
          this.#runner.connectionOpened();
        },
        disconnected: () => {
          this.open--;
          this.#runner.connectionClosed();
        },
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async request(method: string, url: string, endpoint: string, body?: unknown, token?: string): Promise<Reply> {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const started = performance.now();
    let reply: Reply = { status: 0, body: undefined };
    try {
      // The next poll of a tab that just got its answer waits for the answers that already came
      // to the others: one thread plays every browser, and a broadcast answers thousands of
      // parked polls at once, which in the field reach thousands of machines, none of them
      // slowed by another's next poll.
      if (endpoint === 'bus.poll') await setImmediate();
      const { status, text } = await this.#pool(target.origin).with((client, queuedMs) => {
        this.#runner.recordQueued(endpoint, queuedMs);
        return exchange(client, {
          path: target.pathname + target.search,
          method: method as 'GET',
          headers,
          body: body === undefined ? null : JSON.stringify(body),
        });
      });
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      reply = { status, body: parsed };
    } catch {
      // No answer (refused, reset, timed out): status 0, counted as "error" below.
    }
    this.#runner.recordRequest(endpoint, reply.status, performance.now() - started, errorCode(reply.body));
    return reply;
  }

  connect(url: string, events: SocketEvents): Socket {
    const started = performance.now();
    let upgraded = false;
    let status = 0;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      ...(this.#localAddress ? { localAddress: this.#localAddress } : {}),
    });
    ws.on('open', () => {
      upgraded = true;
      this.#runner.recordRequest('bus.websocket', 101, performance.now() - started);
      this.#runner.websocketOpened();
      events.open();
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) events.message(data.toString());
    });
    ws.on('error', (err) => {
      // ws reports a refused upgrade as "Unexpected server response: 401"; a close follows.
      const refused = /Unexpected server response: (\d+)/.exec(err.message);
      if (refused) status = Number(refused[1]);
    });
    ws.on('close', (code) => {
      if (upgraded) this.#runner.websocketClosed(code);
      else this.#runner.recordRequest('bus.websocket', status, performance.now() - started);
      events.close(code);
    });
    return {
      send: (text) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
      },
      close: () => {
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1000);
      },
    };
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms, undefined, { ref: false });
  }

  now(): number {
    return Date.now();
  }

  random(): number {
    return Math.random();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.destroy()));
  }
}

export interface RunnerTarget {
  appUrl: string;
  busUrl: string;
  runTag: string;
  /** How tabs hear the bus: long polls (default) or websockets (Odoo 16+). */
  transport?: BusTransport;
  /** Source addresses the browsers connect from, when one address has too few ports; else the system's choice. */
  sources?: SourcePlan;
  /** How long a browser keeps an idle HTTP connection open (default 60 s, as browsers do). */
  httpKeepAliveMs?: number;
  /** At most this many browsers logging in at once: the ramp's clock waits for one to finish. No bound by default. */
  maxOpening?: number;
}

export class Runner {
  readonly profile: Profile;
  readonly #target: RunnerTarget;
  readonly #browsers: Browser[] = [];
  readonly #transports: BrowserTransport[] = [];
  readonly #posts: PostRecord[] = [];
  readonly #inFlightPosts = new Set<Promise<void>>();
  phase: Phase = 'warmup';
  /** Marked when the phases change; start 0 until the measurement begins. */
  readonly #measure: Window = { start: 0, end: Number.POSITIVE_INFINITY };
  #stopped = false;
  #closing: Promise<void> | undefined;
  /** Browsers whose login and channel list came back; only they post. */
  readonly #openBrowsers: Browser[] = [];
  /** Each browser's opening: true once it logged in and listed its channels. */
  readonly #openings = new Map<Browser, Promise<boolean>>();
  readonly #opening: Promise<boolean>[] = [];
  #openFailures = 0;
  #firstOpenError: string | undefined;
  /** Aborted when posting stops, so no sleep of the schedule outlives it. */
  readonly #posting = new AbortController();
  /** Set when the drain ends: answers that come later (at shutdown) are not the run's. */
  #frozen = false;
  /** Posts still unanswered when the drain ended: counted as failed. */
  #unanswered = 0;
  #lastPostId = 0;
  #requestCount = 0;
  #scheduler: Promise<void> | undefined;
  #observer: RunnerObserver | undefined;

  // Totals over the measure phase.
  readonly #requests: Record<string, Record<string, number>> = {};
  readonly #pollLatency = newHistogram();
  readonly #postLatency = newHistogram();
  readonly #deliveryLatency = newHistogram();
  readonly #queued = newHistogram();
  readonly #postQueued = newHistogram();
  #opened = 0;
  #open = 0;
  #websocketsOpen = 0;
  #websocketsPeak = 0;
  /** Close code -> sockets the server (or the network) closed in the window; the runner's own closes left out. */
  readonly #websocketCloses: Record<string, number> = {};
  #peakOpen = 0;
  #peakQueued = 0;
  #latePosts = 0;
  #maxLagMs = 0;

  // Since the last sample.
  #second = { opened: 0, requests: 0, errors: 0, deliveries: 0, delivery: newHistogram() };

  constructor(profile: Profile, target: RunnerTarget) {
    this.profile = profile;
    this.#target = target;
  }

  /** Adds an observer: the live exporter and the fault injector may both listen. */
  observe(observer: RunnerObserver): void {
    const before = this.#observer;
    this.#observer = before ? bothObservers(before, observer) : observer;
  }

  /** Browsers that opened (logged in and started polling). */
  get browsers(): number {
    return this.#openBrowsers.length;
  }

  /** Browsers whose login or channel list failed (they never polled), and the first reason. */
  get openFailures(): { count: number; first: string | undefined } {
    return { count: this.#openFailures, first: this.#firstOpenError };
  }

  /** Every request answered or failed so far, whatever the phase. */
  get requestCount(): number {
    return this.#requestCount;
  }

  /** Tabs of browsers that opened (logged in and started polling). */
  get tabs(): number {
    return this.#openBrowsers.reduce((n, b) => n + b.tabs.length, 0);
  }

  /**
   * Opens every browser (login, channels) spread over `rampMs`, starts their tabs, then the
   * post schedule. Browsers are user1's, user2's... in turn; hidden tabs are spread evenly.
   * `zero` is when the schedule's offsets count from: the case's start, as k6 counts them
   * from setup()'s t0 (without it, from the end of the ramp).
   */
  async start(rampMs: number, zero?: number): Promise<void> {
    const p = this.profile;
    const count = p.users * p.browsersPerUser;
    const keepAliveMs = this.#target.httpKeepAliveMs ?? HTTP_KEEP_ALIVE_MS;
    for (let i = 0; i < count; i++) {
      const sources = this.#target.sources;
      const transport = new BrowserTransport(this, sources && sourceOf(sources, i), keepAliveMs);
      this.#transports.push(transport);
      const options = {
        id: i + 1,
        login: `user${(i % p.users) + 1}`,
        appUrl: this.#target.appUrl,
        busUrl: this.#target.busUrl,
        tabs: p.tabsPerBrowser,
        tabMode: p.tabMode,
        hidden: hiddenTabs(p),
        hiddenSlowdown: p.hiddenSlowdown,
        hiddenDelay: p.hiddenDelay,
        pollTimeout: p.pollTimeout,
        runTag: this.#target.runTag,
        transport,
        onReceipt: (r: Receipt) => this.#receipt(r),
        onPoll: (withData: boolean) => this.#observer?.poll(withData),
      };
      this.#browsers.push(
        this.#target.transport === 'websocket'
          ? new SocketBrowser({ ...options, presenceInterval: p.presenceInterval })
          : new Browser(options),
      );
    }
    // Every browser's opening is known to the schedule before the ramp, so that with `zero` the
    // schedule runs during the ramp and a post due before its browser opened goes out as that
    // browser opens, as a k6 VU sends it. Started after the ramp, the schedule sent every post
    // due in it at once (16 in the default profile), and the pools that burst opened stayed
    // open into the measured window.
    const begin = new Map<Browser, () => void>();
    for (const b of this.#browsers) {
      const opening = new Promise<void>((go) => begin.set(b, go)).then(() =>
        this.#stopped ? false : this.#openBrowser(b),
      );
      this.#openings.set(b, opening);
    }
    if (zero !== undefined) this.#scheduler = this.#schedulePosts(zero);
    const started = performance.now();
    // Browsers arrive on a clock, not one after another's login: a layout that makes logins
    // wait (worker-threads --poll-holds-thread true, every thread holding a poll) must not stall the schedule.
    const batch = Math.max(1, Math.ceil(count / Math.max(1, rampMs / 50)));
    const maxOpening = this.#target.maxOpening ?? Number.POSITIVE_INFINITY;
    let inFlight = 0;
    let freed: (() => void) | undefined;
    for (let i = 0; i < count && !this.#stopped; i += batch) {
      for (const b of this.#browsers.slice(i, i + batch)) {
        // Each opening ends (its requests time out and give up after OPEN_TRIES), so this wait does too.
        while (inFlight >= maxOpening && !this.#stopped) await new Promise<void>((resolve) => (freed = resolve));
        if (this.#stopped) break;
        inFlight++;
        begin.get(b)?.();
        const opening = (this.#openings.get(b) as Promise<boolean>).finally(() => {
          inFlight--;
          freed?.();
          freed = undefined;
        });
        this.#opening.push(opening);
      }
      const due = ((i + batch) / count) * rampMs - (performance.now() - started);
      if (due > 0) await sleep(due);
    }
    // A ramp cut short by stop(): the browsers it never reached settle as not opened.
    for (const go of begin.values()) go();
    this.#scheduler ??= this.#schedulePosts();
  }

  async #openBrowser(browser: Browser): Promise<boolean> {
    try {
      await browser.open();
    } catch (err) {
      this.#openFailures++;
      this.#firstOpenError ??= (err as Error).message;
      return false;
    }
    if (this.#stopped) return false;
    browser.start();
    this.#openBrowsers.push(browser);
    return true;
  }

  /** Marks the phases so totals cover the measured window only. */
  setPhase(phase: Phase): void {
    this.phase = phase;
    if (phase === 'measure') {
      this.#measure.start = Date.now();
      // Peaks of the window start from what is open as it begins.
      this.#peakOpen = this.#open;
      this.#websocketsPeak = this.#websocketsOpen;
      for (const t of this.#transports) t.peakOpen = t.open;
    }
    if (phase === 'drain') {
      this.#measure.end = Date.now();
      this.#posting.abort();
    }
  }

  /** Open model (load-plan.js): every post's due time is fixed in advance, whatever the server's answers do. */
  async #schedulePosts(start = Date.now()): Promise<void> {
    const offsets = postOffsets(this.profile);
    const authors = postAuthors(this.profile, offsets.length);
    const stop = this.#posting.signal;
    for (const [i, offset] of offsets.entries()) {
      if (stop.aborted) return;
      const due = start + offset;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal: stop }).catch(() => {});
      if (stop.aborted) return;
      const lag = Date.now() - due;
      if (due >= this.#measure.start && this.phase === 'measure') {
        this.#maxLagMs = Math.max(this.#maxLagMs, lag);
        if (lag > LATE_TOLERANCE_MS) this.#latePosts++;
      }
      this.#send(due, authors[i]);
    }
  }

  /** One post due now, outside the schedule (the capacity benchmark's broadcast). */
  postNow(): Promise<void> {
    return this.#send(Date.now());
  }

  #send(due: number, author?: PostAuthor): Promise<void> {
    const sending = this.#post(++this.#lastPostId, due, author).finally(() => this.#inFlightPosts.delete(sending));
    this.#inFlightPosts.add(sending);
    return sending;
  }

  async #post(postId: number, due: number, author?: PostAuthor): Promise<void> {
    // The plan's author posts once its browser has opened, as a k6 VU does; the posts of a
    // browser that failed to open (and the capacity benchmark's) go to a random open one.
    const planned = author ? this.#browsers[author.browser] : undefined;
    const own = planned && (await this.#openings.get(planned)) ? planned : undefined;
    const browser = own ?? this.#openBrowsers[Math.floor(Math.random() * this.#openBrowsers.length)];
    const tab = own && author ? own.tabs[author.tab] : browser?.tabs[Math.floor(Math.random() * browser.tabs.length)];
    if (!browser || !tab) {
      // Due, but no browser has opened yet: the post could not be made, and says so.
      this.#posts.push({ postId, channel: 0, due, sentAt: Date.now(), ackedAt: 0, ok: false });
      return;
    }
    const pick = own ? author?.channel : undefined;
    const { channel, sentAt, ackedAt, reply } = await browser.post(tab, postId, due, this.profile.postTo, pick);
    if (this.#frozen) return;
    const ok = reply.status === 201;
    if (!ok) this.#observer?.postFailed();
    this.#posts.push({ postId, channel, due, sentAt, ackedAt, ok });
    if (this.#inMeasure(due)) recordMs(this.#postLatency, Date.now() - due);
  }

  #inMeasure(due: number): boolean {
    return this.#measure.start > 0 && isMeasured(due, this.#measure);
  }

  #receipt(r: Receipt): void {
    if (r.kind === 'duplicate') this.#observer?.duplicate();
    // Only deliveries the check expects: a first poll also replays older posts from the buffer.
    if (r.kind !== 'first' || r.tab.startedAt === 0 || r.due < r.tab.startedAt) return;
    this.#observer?.delivered(r.at - r.due);
    this.#second.deliveries++;
    recordMs(this.#second.delivery, r.at - r.due);
    if (this.#inMeasure(r.due)) recordMs(this.#deliveryLatency, r.at - r.due);
  }

  recordRequest(endpoint: string, status: number, ms: number, code?: string): void {
    this.#observer?.request(endpoint, status, ms, code);
    this.#requestCount++;
    this.#second.requests++;
    if (status === 0 || status >= 400) this.#second.errors++;
    if (this.phase !== 'measure') return;
    const byStatus = this.#requests[endpoint] ?? {};
    this.#requests[endpoint] = byStatus;
    const key = status === 0 ? 'error' : String(status);
    byStatus[key] = (byStatus[key] ?? 0) + 1;
    if (endpoint === 'bus.poll') recordMs(this.#pollLatency, ms);
  }

  /**
   * How long a request waited for a connection of its browser. Requests asked for in the window
   * count, also when they got their connection after it (a post queued behind parked polls).
   */
  recordQueued(endpoint: string, ms: number): void {
    if (this.#frozen || !this.#inMeasure(Date.now() - ms)) return;
    recordMs(this.#queued, ms);
    if (endpoint === 'chat.post') recordMs(this.#postQueued, ms);
  }

  connectionOpened(): void {
    this.#open++;
    this.#second.opened++;
    if (this.phase !== 'measure') return;
    this.#opened++;
    this.#peakOpen = Math.max(this.#peakOpen, this.#open);
  }

  connectionClosed(): void {
    this.#open--;
  }

  websocketOpened(): void {
    this.#websocketsOpen++;
    if (this.phase === 'measure') this.#websocketsPeak = Math.max(this.#websocketsPeak, this.#websocketsOpen);
  }

  websocketClosed(code: number): void {
    this.#websocketsOpen--;
    if (this.phase !== 'measure' || this.#stopped) return;
    this.#websocketCloses[code] = (this.#websocketCloses[code] ?? 0) + 1;
  }

  /** The client's second: called once a second by the sampler. */
  sample(): ClientSample {
    const queued = this.#transports.reduce((n, t) => n + t.queued, 0);
    if (this.phase === 'measure') this.#peakQueued = Math.max(this.#peakQueued, queued);
    const s = this.#second;
    this.#second = { opened: 0, requests: 0, errors: 0, deliveries: 0, delivery: newHistogram() };
    return {
      tabs: this.tabs,
      httpOpen: this.#open,
      httpOpened: s.opened,
      queued,
      requests: s.requests,
      errors: s.errors,
      deliveries: s.deliveries,
      deliveryP99Ms: percentiles(s.delivery).p99,
    };
  }

  /**
   * Drain: no new posts; wait for posts in flight, reveal hidden tabs so they poll now, and
   * wait until every expected delivery arrived or `timeoutMs` passed.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.setPhase('drain');
    await this.#scheduler;
    const deadline = Date.now() + timeoutMs;
    const posted = Promise.all(this.#inFlightPosts);
    while (this.#inFlightPosts.size > 0 && Date.now() < deadline) await Promise.race([posted, sleep(100)]);
    for (const b of this.#browsers) b.reveal();
    for (;;) {
      const { lost, pending } = this.deliveries();
      if (lost + pending === 0 || Date.now() >= deadline) break;
      await sleep(100);
    }
    this.#frozen = true;
    this.#unanswered = this.#inFlightPosts.size;
  }

  /** The delivery check as it stands now: posts due in the measure window, once it has begun. */
  deliveries(): DeliveryCount {
    return countDeliveries(this.#posts, this.#browsers, this.#measure.start > 0 ? this.#measure : undefined);
  }

  /** The delivery check of the posts due in `window` alone (a fault's window). */
  deliveriesDueIn(window: Window): DeliveryCount {
    return countDeliveries(this.#posts, this.#browsers, window);
  }

  /** Ends the tab loops; their parked polls end when the layout shuts down. */
  stop(): Promise<unknown> {
    this.#stopped = true;
    return Promise.all([...this.#opening, ...this.#browsers.map((b) => b.stop())]);
  }

  /** Idempotent: the bench calls it on success and again on the way out. */
  close(): Promise<void> {
    this.#stopped = true;
    this.#closing ??= Promise.allSettled(this.#transports.map((t) => t.close())).then(() => {});
    return this.#closing;
  }

  totals(): Pick<CaseTotals, 'client' | 'delivery'> {
    const delivery = this.deliveries();
    return {
      client: {
        tabs: this.tabs,
        browsers: this.#browsers.length,
        http_connections_opened: this.#opened,
        http_connections_peak: this.#peakOpen,
        http_connections_peak_per_browser: Math.max(0, ...this.#transports.map((t) => t.peakOpen)),
        queued_requests_peak: this.#peakQueued,
        requests: this.#requests,
        poll_latency_ms: percentiles(this.#pollLatency),
        post_latency_ms: percentiles(this.#postLatency),
        queued_ms: percentiles(this.#queued),
        post_queued_ms: percentiles(this.#postQueued),
        behind_schedule: { late_posts: this.#latePosts, max_lag_ms: Math.round(this.#maxLagMs) },
        ...(this.#target.transport === 'websocket'
          ? { websockets_peak: this.#websocketsPeak, websocket_closes: { ...this.#websocketCloses } }
          : {}),
      },
      delivery: {
        posts: delivery.posts,
        posts_failed: this.#posts.filter((p) => !p.ok && this.#inMeasure(p.due)).length + this.#unanswered,
        expected: delivery.expected,
        delivered: delivery.delivered,
        lost: delivery.lost,
        pending: delivery.pending,
        duplicated: delivery.duplicated,
        out_of_order: delivery.outOfOrder,
        latency_ms: percentiles(this.#deliveryLatency),
      },
    };
  }
}

function bothObservers(a: RunnerObserver, b: RunnerObserver): RunnerObserver {
  return {
    request: (...args) => {
      a.request(...args);
      b.request(...args);
    },
    poll: (withData) => {
      a.poll(withData);
      b.poll(withData);
    },
    delivered: (ms) => {
      a.delivered(ms);
      b.delivered(ms);
    },
    duplicate: () => {
      a.duplicate();
      b.duplicate();
    },
    postFailed: () => {
      a.postFailed();
      b.postFailed();
    },
  };
}

/** The code of an error body ({ error: { code } }), if the answer was one. */
function errorCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}
