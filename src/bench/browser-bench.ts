// `busbench bench --browser`: the chat page in real tabs of headless Chromium, because what a
// browser does with many tabs (6 connections per origin, Web Locks, SharedWorkers) is what the
// simulated tabs only approximate. Per case and tab mode: a fresh database and layout, B
// browsers x T tabs; then the server's parked polls and sockets, presence writes and 40001s,
// delivery of posts to every tab, and recovery after a tab (the leader) closes.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { round, total } from '../../loadtests/lib/numbers.js';
import type { Profile } from '../../loadtests/lib/profiles.js';
import { byLabel, sum } from '../../loadtests/lib/prometheus-text.js';
import type { TabModeName as BrowserMode, BusbenchTabState, ReceivedMessage } from '../../web/tab-state.js';
import { errors } from '../lib/errors.js';
import { createDatabase, dropDatabase, type PostgresServer, redact } from '../lib/postgres.js';
import type { Config, TopologyName } from '../lib/server-options.js';
import { topologies } from '../topologies/index.js';
import { type LayoutProcess, spawnLayout } from '../topologies/layout-process.js';
import { MetricsScraper } from './metrics-scraper.js';
import type { BenchOptions } from './options.js';
import type { Progress } from './progress.js';
import type { BrowserResult } from './results.js';

const CHROMIUM = '/usr/bin/chromium';
/**
 * At Odoo's 50 s every request of a 7th tab (page, login, channels) waits for a parked poll to
 * end, so 10 every-tab tabs take minutes to open; 10 s shows the same queue in seconds.
 */
const BROWSER_POLL_TIMEOUT = 10;
const SETTLE_MS = 2000;
const POSTS_PER_BROWSER = 5;
const GENERAL = 1;
/** Server figures are read this often after the tabs settled; the median hides a poll that is just being answered. */
const SAMPLES = 5;
const SAMPLE_EVERY_MS = 200;
const WATCH_EVERY_MS = 50;
const LOG_WAIT_EVERY_MS = 5000;
/** The page promises a new leader within 2 s of the old one closing. */
const HANDOVER_PROMISE_MS = 2000;
const ERRORS_KEPT = 3;

export function chromiumPath(): string | undefined {
  return existsSync(CHROMIUM) ? CHROMIUM : undefined;
}

export function assertChromium(): void {
  if (!chromiumPath()) throw errors.config('--browser', `needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

export function launchChromium(): Promise<Browser> {
  assertChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      // Chromium's own traffic (updates, sync) must not mix with the page's connections.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** The profile a browser run serves: enough users for the browsers, and a poll timeout that lets 7th tabs open. */
export function browserProfile(profile: Profile, options: BenchOptions): Profile {
  return {
    ...profile,
    users: Math.max(profile.users, options.browserCount),
    pollTimeout: options.benchPollTimeout ?? BROWSER_POLL_TIMEOUT,
  };
}

// ---- one tab, through the page's window.busbench hooks ----

export type Received = ReceivedMessage;
/** window.busbench without its function, as the page reported it. */
export type TabState = Omit<BusbenchTabState, 'post'>;

export function tabUrl(appUrl: string, login: string, mode: BrowserMode): string {
  return `${appUrl}/?login=${encodeURIComponent(login)}&mode=${mode}`;
}

/** Opens a tab of `context` on the chat page and resolves once the page says it is ready. */
export async function openTab(
  context: BrowserContext,
  url: string,
  timeoutMs: number,
  onError: (message: string) => void = () => {},
): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => onError(err.message));
  const started = Date.now();
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
  // Functions passed to the page run there: they may use only their arguments and globals.
  await page.waitForFunction(
    () => (globalThis as unknown as { busbench?: BusbenchTabState }).busbench?.ready === true,
    undefined,
    { timeout: Math.max(1, timeoutMs - (Date.now() - started)), polling: 100 },
  );
  return page;
}

export function tabState(page: Page): Promise<TabState> {
  return page.evaluate(() => {
    const b = (globalThis as unknown as { busbench?: BusbenchTabState }).busbench;
    if (!b) throw new Error('window.busbench is missing');
    return {
      ready: b.ready,
      mode: b.mode,
      isLeader: b.isLeader,
      leaderSince: b.leaderSince,
      userId: b.userId,
      last: b.last,
      received: b.received.map((r) => ({ ...r })),
      duplicates: b.duplicates,
      pollsInFlight: b.pollsInFlight,
    };
  });
}

/** Posts from the tab, through the browser's own connections; the HTTP status, 0 if the page threw. */
export function postFrom(page: Page, channelId: number, body: string, clientId: string): Promise<number> {
  return page
    .evaluate(
      (a) => (globalThis as unknown as { busbench: BusbenchTabState }).busbench.post(a.channelId, a.body, a.clientId),
      {
        channelId,
        body,
        clientId,
      },
    )
    .catch(() => 0);
}

// ---- the delivery check ----

export interface Delivery {
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
}

/** A post that got its answer, and the tabs (keys of `received`) that were open to see it. */
export interface SentPost {
  clientId: string;
  status: number;
  audience: string[];
}

/** Each 201 post must show in each tab of its audience exactly once; any message shown twice in a tab is a duplicate. */
export function deliveryOf(posts: SentPost[], received: Map<string, Received[]>): Delivery {
  let expected = 0;
  let delivered = 0;
  for (const p of posts) {
    if (p.status !== 201) continue;
    for (const tab of p.audience) {
      expected++;
      if (received.get(tab)?.some((r) => r.clientId === p.clientId)) delivered++;
    }
  }
  let duplicated = 0;
  for (const list of received.values()) {
    const seen = new Set<number>();
    for (const r of list) {
      if (seen.has(r.messageId)) duplicated++;
      seen.add(r.messageId);
    }
  }
  return { expected, delivered, lost: expected - delivered, duplicated };
}

// ---- the server's view ----

interface ServerView {
  parkedPolls: number;
  /** Client sockets, this reader's own connection left out. */
  openSockets: number;
  presenceWrites: number;
  serializationFailures: number;
  /** Polls answered with something else than 200 (409: presence conflicts outlasted the retries), by status. */
  failedPolls: Record<string, number>;
}

/** Reads the layout's /metrics, leaving the scraper's own connection out of the socket count. */
class MetricsReader {
  readonly #scraper: MetricsScraper;

  constructor(metricsUrl: string) {
    this.#scraper = new MetricsScraper(metricsUrl);
  }

  async read(): Promise<ServerView> {
    const samples = await this.#scraper.scrape();
    const commits = byLabel(samples, 'busbench_tx_commits_total', 'endpoint');
    return {
      parkedPolls: sum(samples, 'busbench_bus_parked_polls'),
      openSockets: sum(samples, 'busbench_http_open_sockets') - 1,
      presenceWrites: total(
        Object.entries(commits)
          .filter(([endpoint]) => endpoint.startsWith('presence.'))
          .map(([, v]) => v),
      ),
      serializationFailures: sum(samples, 'busbench_tx_failures_total', { sqlstate: '40001' }),
      failedPolls: Object.fromEntries(
        Object.entries(
          byLabel(
            samples.filter((s) => s.labels.endpoint === 'bus.poll' && s.labels.status !== '200'),
            'busbench_http_requests_total',
            'status',
          ),
        ).filter(([, n]) => n > 0),
      ),
    };
  }

  close(): Promise<void> {
    return this.#scraper.close();
  }
}

// ---- one measurement ----

export interface BrowserCase {
  id: string;
  topology: TopologyName;
  /** The server configuration the flags produce. */
  config: Config;
  flags: string[];
}

interface Tab {
  key: string;
  browser: number;
  page: Page;
}

interface Context {
  database: PostgresServer;
  progress: Progress;
  current: { layout?: LayoutProcess };
  browsers: number;
  tabs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Runs `check` every WATCH_EVERY_MS; Date.now() when it first held, or null at the deadline. */
async function watch(check: () => Promise<boolean>, deadline: number): Promise<number | null> {
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() >= deadline) return null;
    await sleep(WATCH_EVERY_MS);
  }
}

async function snapshot(tabs: Tab[]): Promise<Map<string, TabState>> {
  const states = await Promise.all(tabs.map((t) => tabState(t.page)));
  return new Map(tabs.map((t, i) => [t.key, states[i] as TabState]));
}

function receivedOf(states: Map<string, TabState>): Map<string, Received[]> {
  return new Map([...states].map(([key, s]) => [key, s.received]));
}

function shows(states: Map<string, TabState>, post: SentPost): boolean {
  return post.audience.every((tab) => states.get(tab)?.received.some((r) => r.clientId === post.clientId));
}

/** Opens every tab of every browser at once; logs how many are ready while a browser's connections hold them back. */
async function openAll(
  browser: Browser,
  appUrl: string,
  mode: BrowserMode,
  ctx: Context,
  label: string,
  timeoutMs: number,
  pageErrors: string[],
): Promise<Tab[]> {
  const tabs: Tab[] = [];
  const contexts = await Promise.all(Array.from({ length: ctx.browsers }, () => browser.newContext()));
  const openedAt = Date.now();
  const opening = Promise.allSettled(
    contexts.flatMap((context, b) =>
      Array.from({ length: ctx.tabs }, async (_, t) => {
        const where = `user${b + 1} tab ${t + 1}`;
        const url = tabUrl(appUrl, `user${b + 1}`, mode);
        const page = await openTab(context, url, timeoutMs, (m) => pageErrors.push(`${where}: ${m}`));
        tabs.push({ key: `${b}/${t}`, browser: b, page });
      }),
    ),
  );
  const wanted = ctx.browsers * ctx.tabs;
  for (;;) {
    const settled = await Promise.race([opening, sleep(LOG_WAIT_EVERY_MS).then(() => undefined)]);
    if (settled) {
      const failure = settled.find((s) => s.status === 'rejected');
      if (failure) {
        throw new Error(
          `${tabs.length}/${wanted} tabs became ready within ${timeoutMs / 1000} s ` +
            `(first failure: ${(failure.reason as Error).message.split('\n')[0]})`,
        );
      }
      return tabs.sort((a, b) => a.key.localeCompare(b.key, 'en', { numeric: true }));
    }
    const waited = ((Date.now() - openedAt) / 1000).toFixed(0);
    progress(ctx, `${label}: ${tabs.length}/${wanted} tabs ready after ${waited} s`);
  }
}

function progress(ctx: Context, line: string): void {
  ctx.progress.log(`[busbench] ${line}`);
}

/** The server's and the tabs' figures at rest: the median of a few reads, taken together. */
async function atRest(
  reader: MetricsReader,
  tabs: Tab[],
): Promise<{ first: ServerView; parked: number; sockets: number; pollsInFlight: number }> {
  const views: ServerView[] = [];
  const inFlight: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(SAMPLE_EVERY_MS);
    const [view, states] = await Promise.all([reader.read(), snapshot(tabs)]);
    views.push(view);
    inFlight.push([...states.values()].reduce((n, s) => n + s.pollsInFlight, 0));
  }
  return {
    first: views[0] as ServerView,
    parked: median(views.map((v) => v.parkedPolls)),
    sockets: median(views.map((v) => v.openSockets)),
    pollsInFlight: median(inFlight),
  };
}

/** POSTS_PER_BROWSER posts from different tabs of each browser, all at once, to "general", which every tab shows. */
function postFromEveryBrowser(tabs: Tab[], browsers: number, tag: string): Promise<SentPost[]> {
  const everyone = tabs.map((t) => t.key);
  return Promise.all(
    Array.from({ length: browsers }, (_, b) => tabs.filter((t) => t.browser === b)).flatMap((own, b) =>
      Array.from({ length: POSTS_PER_BROWSER }, async (_, j) => {
        const clientId = `${tag}-${b + 1}-${j + 1}`;
        const from = own[j % own.length] as Tab;
        const status = await postFrom(from.page, GENERAL, `user${b + 1} post ${j + 1}`, clientId);
        return { clientId, status, audience: everyone };
      }),
    ),
  );
}

/**
 * Which tabs miss posts, and whether their cursor went past them (skipped for good) or stayed
 * behind (never answered since): the two need different fixes in the page.
 */
function missingWarning(posts: SentPost[], states: Map<string, TabState>, delivery: Delivery): string {
  const busIds = new Map<string, number>();
  for (const s of states.values()) for (const r of s.received) if (r.clientId) busIds.set(r.clientId, r.busId);
  const tabs: string[] = [];
  for (const [key, s] of states) {
    const missing = posts.filter(
      (p) => p.status === 201 && p.audience.includes(key) && !s.received.some((r) => r.clientId === p.clientId),
    );
    if (missing.length === 0) continue;
    const passed = missing.filter((p) => (busIds.get(p.clientId) ?? Number.POSITIVE_INFINITY) <= s.last).length;
    const [browser = '', tab = ''] = key.split('/');
    tabs.push(
      `user${Number(browser) + 1} tab ${Number(tab) + 1}: ${missing.length} missing, cursor ${s.last} past ${passed} of them`,
    );
  }
  return `${delivery.lost} of ${delivery.expected} (post, tab) deliveries missing (${tabs.join('; ')})`;
}

function leadersPerBrowser(states: Map<string, TabState>, tabs: Tab[], browsers: number): number[] {
  const counts = Array.from({ length: browsers }, () => 0);
  for (const t of tabs) if (states.get(t.key)?.isLeader) counts[t.browser] = (counts[t.browser] ?? 0) + 1;
  return counts;
}

async function measure(c: BrowserCase, mode: BrowserMode, label: string, ctx: Context): Promise<BrowserResult> {
  const pollTimeoutMs = c.config.pollTimeout * 1000;
  // Each request of a 7th every-tab tab may wait for a poll to end, and a page load is several requests.
  const readyTimeoutMs = Math.max(60_000, 10 * pollTimeoutMs);
  const deliveryTimeoutMs = 2 * pollTimeoutMs + 15_000;
  const dbName = `bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = await createDatabase(ctx.database.adminUrl, dbName);
  progress(ctx, `${label}: starting (${topologies[c.topology].budget(c.config).summary})`);
  const caseStart = Date.now();
  const warnings: string[] = [];
  const pageErrors: string[] = [];
  let layout: LayoutProcess | undefined;
  let browser: Browser | undefined;
  let reader: MetricsReader | undefined;
  try {
    layout = await spawnLayout(c.topology, databaseUrl, c.flags);
    ctx.current.layout = layout;
    reader = new MetricsReader(`${layout.url}/metrics`);
    browser = await launchChromium();
    const openedAt = Date.now();
    const tabs = await openAll(browser, layout.url, mode, ctx, label, readyTimeoutMs, pageErrors);
    const readyMs = Date.now() - openedAt;
    await sleep(SETTLE_MS);

    const windowStart = Date.now();
    const rest = await atRest(reader, tabs);
    progress(
      ctx,
      `${label}: ${tabs.length} tabs ready in ${(readyMs / 1000).toFixed(1)} s; ${rest.pollsInFlight} polls in flight, ` +
        `${rest.parked} parked on the server, ${rest.sockets} sockets`,
    );
    if (mode !== 'every-tab' && rest.parked !== ctx.browsers) {
      warnings.push(
        `${rest.parked} parked polls for ${ctx.browsers} browsers: ${mode} mode should hold one per browser`,
      );
    }
    const leaders = leadersPerBrowser(await snapshot(tabs), tabs, ctx.browsers);
    if (mode === 'leader' && leaders.some((n) => n !== 1)) {
      warnings.push(`leaders per browser: ${leaders.join(', ')} (one expected)`);
    }

    const tag = randomBytes(3).toString('hex');
    const postedAt = Date.now();
    const posts = await postFromEveryBrowser(tabs, ctx.browsers, tag);
    const answered = posts.filter((p) => p.status === 201);
    const deliveredAt = await watch(async () => {
      const states = await snapshot(tabs);
      return answered.every((p) => shows(states, p));
    }, Date.now() + deliveryTimeoutMs);
    const end = await reader.read();
    const windowSeconds = (Date.now() - windowStart) / 1000;

    const handover = await closeOneTabEach(tabs, mode, ctx.browsers, tag, deliveryTimeoutMs);
    posts.push(...handover.posts);
    warnings.push(...handover.warnings);
    const final = new Map([...(await snapshot(handover.remaining)), ...handover.closed]);
    const delivery = deliveryOf(posts, receivedOf(final));
    const dropped = [...final.values()].reduce((n, s) => n + s.duplicates, 0);
    const failedPosts = posts.filter((p) => p.status !== 201);
    if (failedPosts.length > 0) {
      const statuses = failedPosts.map((p) => p.status).join(', ');
      warnings.push(`${failedPosts.length} posts were not answered 201 (${statuses})`);
    }
    if (delivery.lost > 0) warnings.push(missingWarning(posts, final, delivery));
    // Counted from the layout's start: the first polls of tabs opening together conflict the most.
    const failedPolls = Object.entries((await reader.read()).failedPolls);
    if (failedPolls.length > 0) {
      const statuses = failedPolls.map(([status, n]) => `${n} x ${status}`).join(', ');
      warnings.push(`polls answered with an error status since the tabs opened: ${statuses}`);
    }
    if (delivery.duplicated > 0) warnings.push(`${delivery.duplicated} messages shown twice in a tab`);
    if (dropped > 0) warnings.push(`the tabs got ${dropped} notifications again and dropped them (not shown twice)`);
    if (pageErrors.length > 0) {
      const first = pageErrors.slice(0, ERRORS_KEPT).join(' | ');
      warnings.push(`${pageErrors.length} uncaught errors in the page (first: ${first})`);
    }
    await browser.close();
    browser = undefined;
    const exitCode = await layout.stop();
    if (exitCode !== 0) warnings.push(`the layout exited with code ${exitCode} when stopped`);

    const took = ((Date.now() - caseStart) / 1000).toFixed(0);
    progress(ctx, `${label}: done in ${took} s${warnings.length ? ` - ${warnings.join('; ')}` : ''}`);
    return {
      id: `${c.id} ${mode}`,
      topology: c.topology,
      mode,
      server_config: { ...c.config, databaseUrl: redact(databaseUrl) },
      browsers: ctx.browsers,
      tabs_per_browser: ctx.tabs,
      ready_ms: readyMs,
      polls_in_flight: rest.pollsInFlight,
      parked_polls: rest.parked,
      parked_polls_per_browser: round(rest.parked / ctx.browsers),
      open_sockets: rest.sockets,
      sockets_per_browser: round(rest.sockets / ctx.browsers),
      window_seconds: round(windowSeconds),
      presence_writes: end.presenceWrites - rest.first.presenceWrites,
      serialization_failures: end.serializationFailures - rest.first.serializationFailures,
      posts: posts.length,
      posts_failed: failedPosts.length,
      ...delivery,
      delivery_ms: deliveredAt === null ? null : deliveredAt - postedAt,
      handover_ms: handover.ms,
      warnings,
    };
  } finally {
    await browser?.close().catch(() => {});
    await reader?.close();
    await layout?.stop();
    ctx.current.layout = undefined;
    await dropDatabase(ctx.database.adminUrl, dbName).catch(() => {});
  }
}

/**
 * Closes one tab per browser (its leader in leader mode), posts at once from a remaining tab,
 * and times until every remaining tab shows that post: the new leader must resume from the
 * last id it shared, the shared worker must not mind a tab leaving.
 */
async function closeOneTabEach(
  tabs: Tab[],
  mode: BrowserMode,
  browsers: number,
  tag: string,
  timeoutMs: number,
): Promise<{
  ms: number | null;
  posts: SentPost[];
  remaining: Tab[];
  /** The closed tabs as they were just before closing. */
  closed: Map<string, TabState>;
  warnings: string[];
}> {
  const states = await snapshot(tabs);
  const closing: Tab[] = [];
  for (let b = 0; b < browsers; b++) {
    const own = tabs.filter((t) => t.browser === b);
    const pick = mode === 'leader' ? (own.find((t) => states.get(t.key)?.isLeader) ?? own[0]) : own[0];
    if (pick) closing.push(pick);
  }
  const remaining = tabs.filter((t) => !closing.includes(t));
  const [from] = remaining;
  if (!from) return { ms: null, posts: [], remaining: tabs, closed: new Map(), warnings: [] };
  const closed = new Map([...states].filter(([key]) => closing.some((t) => t.key === key)));
  const closedAt = Date.now();
  await Promise.all(closing.map((t) => t.page.close()));
  const clientId = `${tag}-after-close`;
  const status = await postFrom(from.page, GENERAL, 'after a tab closed', clientId);
  const post = { clientId, status, audience: remaining.map((t) => t.key) };
  const arrivedAt =
    status === 201 ? await watch(async () => shows(await snapshot(remaining), post), Date.now() + timeoutMs) : null;
  const warnings: string[] = [];
  if (mode === 'leader') {
    const after = await snapshot(remaining);
    const leaders = leadersPerBrowser(after, remaining, browsers);
    for (let b = 0; b < browsers; b++) {
      if (!remaining.some((t) => t.browser === b)) continue;
      const leader = remaining.find((t) => t.browser === b && after.get(t.key)?.isLeader);
      const since = leader ? after.get(leader.key)?.leaderSince : null;
      if (leaders[b] !== 1) warnings.push(`user${b + 1}: ${leaders[b]} leaders after the leader closed`);
      else if (typeof since === 'number' && since - closedAt > HANDOVER_PROMISE_MS) {
        warnings.push(
          `user${b + 1}: a new leader took ${since - closedAt} ms (the page promises ${HANDOVER_PROMISE_MS})`,
        );
      }
    }
  }
  return { ms: arrivedAt === null ? null : arrivedAt - closedAt, posts: [post], remaining, closed, warnings };
}

// ---- the run ----

/** Every case in every mode, each on a fresh database; a failed measurement is reported and skipped. */
export async function runBrowserBench(
  cases: BrowserCase[],
  options: Pick<BenchOptions, 'browserModes' | 'browserCount' | 'browserTabs'>,
  ctx: Omit<Context, 'browsers' | 'tabs'>,
): Promise<{ results: BrowserResult[]; failed: string[] }> {
  const runs = cases.flatMap((c) => options.browserModes.map((mode) => ({ c, mode })));
  const [first] = cases;
  ctx.progress.log(
    `[busbench] real browsers: ${options.browserCount} Chromium browsers x ${options.browserTabs} tabs, ` +
      `modes ${options.browserModes.join(', ')}, poll timeout ${first?.config.pollTimeout} s, ${runs.length} measurement(s)`,
  );
  const results: BrowserResult[] = [];
  const failed: string[] = [];
  for (const [i, { c, mode }] of runs.entries()) {
    const label = `[${i + 1}/${runs.length}] ${c.id} ${mode}`;
    try {
      results.push(
        await measure(c, mode, label, { ...ctx, browsers: options.browserCount, tabs: options.browserTabs }),
      );
    } catch (err) {
      failed.push(`${c.id} ${mode}: ${(err as Error).message}`);
      ctx.progress.log(`[busbench] ${label}: FAILED: ${(err as Error).message}`);
    }
  }
  return { results, failed };
}
