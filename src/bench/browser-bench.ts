// `busbench bench --browser`: the chat page in real tabs of headless Chromium, because what a
// browser does with many tabs (6 connections per origin, Web Locks, SharedWorkers) is what the
// simulated tabs only approximate. Per case (its transport is the page's ?transport=) and tab
// mode, through the Lab's lifecycle: B browsers x T tabs on a fresh layout; then the server's
// parked polls, sockets and websockets, presence writes and 40001s, delivery of posts to every
// tab, and recovery after a tab (the leader) closes.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { round } from '../../loadtests/lib/numbers.js';
import type { Profile } from '../../loadtests/lib/profiles.js';
import type { TabModeName, TabTransportName } from '../../web/tab-state.js';
import type { Config } from '../lib/server-options.js';
import { deliveryOf, missingWarning, receivedOf, type SentPost, shows } from './browser-delivery.js';
import { MetricsReader, type ServerView } from './browser-server-view.js';
import { launchChromium, openTab, postFrom, snapshot, type Tab, type TabState, tabUrl } from './browser-tabs.js';
import type { Lab, RunningCase } from './lifecycle.js';
import type { BenchOptions } from './options.js';
import type { BrowserResult } from './results.js';
import type { Case } from './sweep.js';

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

/** The profile a browser run serves: enough users for the browsers, and a poll timeout that lets 7th tabs open. */
export function browserProfile(profile: Profile, options: BenchOptions): Profile {
  return {
    ...profile,
    users: Math.max(profile.users, options.browserCount),
    pollTimeout: options.benchPollTimeout ?? BROWSER_POLL_TIMEOUT,
  };
}

// ---- one measurement ----

interface Context {
  running: RunningCase;
  browsers: number;
  tabs: number;
  transport: TabTransportName;
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

/** Opens every tab of every browser at once; logs how many are ready while a browser's connections hold them back. */
async function openAll(
  browser: Browser,
  mode: TabModeName,
  ctx: Context,
  timeoutMs: number,
  pageErrors: string[],
): Promise<Tab[]> {
  const appUrl = ctx.running.layout.url;
  const tabs: Tab[] = [];
  const contexts = await Promise.all(Array.from({ length: ctx.browsers }, () => browser.newContext()));
  const openedAt = Date.now();
  const opening = Promise.allSettled(
    contexts.flatMap((context, b) =>
      Array.from({ length: ctx.tabs }, async (_, t) => {
        const where = `user${b + 1} tab ${t + 1}`;
        const url = tabUrl(appUrl, `user${b + 1}`, mode, ctx.transport);
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
    progress(ctx, `${ctx.running.label}: ${tabs.length}/${wanted} tabs ready after ${waited} s`);
  }
}

function progress(ctx: Context, line: string): void {
  ctx.running.progress.log(`[busbench] ${line}`);
}

/** The server's and the tabs' figures at rest: the median of a few reads, taken together. */
async function atRest(
  reader: MetricsReader,
  tabs: Tab[],
): Promise<{ first: ServerView; parked: number; sockets: number; websockets: number; pollsInFlight: number }> {
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
    websockets: median(views.map((v) => v.openWebsockets)),
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

function leadersPerBrowser(states: Map<string, TabState>, tabs: Tab[], browsers: number): number[] {
  const counts = Array.from({ length: browsers }, () => 0);
  for (const t of tabs) if (states.get(t.key)?.isLeader) counts[t.browser] = (counts[t.browser] ?? 0) + 1;
  return counts;
}

async function measure(c: Case, mode: TabModeName, ctx: Context): Promise<BrowserResult> {
  const { running } = ctx;
  const pollTimeoutMs = running.config.pollTimeout * 1000;
  // Each request of a 7th every-tab tab may wait for a poll to end, and a page load is several requests.
  const readyTimeoutMs = Math.max(60_000, 10 * pollTimeoutMs);
  const deliveryTimeoutMs = 2 * pollTimeoutMs + 15_000;
  const caseStart = Date.now();
  const warnings: string[] = [];
  const pageErrors: string[] = [];
  const reader = new MetricsReader(`${running.layout.url}/metrics`);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const openedAt = Date.now();
    const tabs = await openAll(browser, mode, ctx, readyTimeoutMs, pageErrors);
    const readyMs = Date.now() - openedAt;
    await sleep(SETTLE_MS);

    const windowStart = Date.now();
    const rest = await atRest(reader, tabs);
    progress(
      ctx,
      `${running.label}: ${tabs.length} tabs ready in ${(readyMs / 1000).toFixed(1)} s; ${rest.pollsInFlight} polls in flight, ` +
        `${rest.parked} parked on the server, ${rest.sockets} sockets, ${rest.websockets} websockets`,
    );
    const leaders = leadersPerBrowser(await snapshot(tabs), tabs, ctx.browsers);
    warnings.push(...sharingWarnings(mode, ctx, rest, leaders));

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
    // Counted from the layout's start: the first polls of tabs opening together conflict the most.
    const { failedPolls } = await reader.read();
    warnings.push(...roundWarnings(posts, final, delivery, failedPolls, pageErrors));
    await browser.close();
    browser = undefined;
    const exitCode = await running.layout.stop();
    if (exitCode !== 0) warnings.push(`the layout exited with code ${exitCode} when stopped`);

    const took = ((Date.now() - caseStart) / 1000).toFixed(0);
    progress(ctx, `${running.label}: done in ${took} s${warnings.length ? ` - ${warnings.join('; ')}` : ''}`);
    return {
      id: `${c.id} ${mode}`,
      topology: c.topology,
      mode,
      transport: ctx.transport,
      server_config: running.serverConfig(),
      browsers: ctx.browsers,
      tabs_per_browser: ctx.tabs,
      ready_ms: readyMs,
      polls_in_flight: rest.pollsInFlight,
      parked_polls: rest.parked,
      parked_polls_per_browser: round(rest.parked / ctx.browsers),
      open_sockets: rest.sockets,
      sockets_per_browser: round(rest.sockets / ctx.browsers),
      open_websockets: rest.websockets,
      websockets_per_browser: round(rest.websockets / ctx.browsers),
      window_seconds: round(windowSeconds),
      presence_writes: end.presenceWrites - rest.first.presenceWrites,
      serialization_failures: end.serializationFailures - rest.first.serializationFailures,
      posts: posts.length,
      posts_failed: posts.filter((p) => p.status !== 201).length,
      ...delivery,
      delivery_ms: deliveredAt === null ? null : deliveredAt - postedAt,
      handover_ms: handover.ms,
      warnings,
    };
  } finally {
    await browser?.close().catch(() => {});
    await reader.close();
  }
}

/**
 * Leader and shared-worker modes must hold one poll or websocket (and leader mode one leader)
 * per browser, every-tab one websocket per tab; a websocket page parks no poll.
 */
function sharingWarnings(
  mode: TabModeName,
  ctx: Context,
  rest: { parked: number; websockets: number },
  leaders: number[],
): string[] {
  const out: string[] = [];
  const { browsers, transport } = ctx;
  const { parked, websockets } = rest;
  const shared = mode !== 'every-tab';
  const onPolls = transport === 'longpoll';
  if (shared && onPolls && parked !== browsers) {
    out.push(`${parked} parked polls for ${browsers} browsers: ${mode} mode should hold one per browser`);
  }
  const socketsWanted = onPolls ? 0 : shared ? browsers : browsers * ctx.tabs;
  if (websockets !== socketsWanted) {
    const per = onPolls ? 'none on long polls' : shared ? 'one per browser' : 'one per tab';
    out.push(`${websockets} websockets for ${browsers} browsers: ${mode} mode on ${transport} should hold ${per}`);
  }
  if (!onPolls && parked !== 0) out.push(`${parked} parked polls: a page on websockets should park none`);
  if (mode === 'leader' && leaders.some((n) => n !== 1))
    out.push(`leaders per browser: ${leaders.join(', ')} (one expected)`);
  return out;
}

/** What went wrong in the round of posts: failed posts, missing or repeated messages, failed polls, page errors. */
function roundWarnings(
  posts: SentPost[],
  final: Map<string, TabState>,
  delivery: ReturnType<typeof deliveryOf>,
  failedPolls: ServerView['failedPolls'],
  pageErrors: string[],
): string[] {
  const out: string[] = [];
  const failedPosts = posts.filter((p) => p.status !== 201);
  if (failedPosts.length > 0) {
    const statuses = failedPosts.map((p) => p.status).join(', ');
    out.push(`${failedPosts.length} posts were not answered 201 (${statuses})`);
  }
  if (delivery.lost > 0) out.push(missingWarning(posts, final, delivery));
  const polls = Object.entries(failedPolls);
  if (polls.length > 0) {
    const statuses = polls.map(([status, n]) => `${n} x ${status}`).join(', ');
    out.push(`polls answered with an error status since the tabs opened: ${statuses}`);
  }
  if (delivery.duplicated > 0) out.push(`${delivery.duplicated} messages shown twice in a tab`);
  const dropped = [...final.values()].reduce((n, s) => n + s.duplicates, 0);
  if (dropped > 0) out.push(`the tabs got ${dropped} notifications again and dropped them (not shown twice)`);
  if (pageErrors.length > 0) {
    const first = pageErrors.slice(0, ERRORS_KEPT).join(' | ');
    out.push(`${pageErrors.length} uncaught errors in the page (first: ${first})`);
  }
  return out;
}

/**
 * Closes one tab per browser (its leader in leader mode), posts at once from a remaining tab,
 * and times until every remaining tab shows that post: the new leader must resume from the
 * last id it shared, the shared worker must not mind a tab leaving.
 */
async function closeOneTabEach(
  tabs: Tab[],
  mode: TabModeName,
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

/** Every case in every mode, each through the Lab's lifecycle; a failed measurement is reported and skipped. */
export function runBrowserBench(
  lab: Lab,
  cases: Case[],
  configs: Config[],
  options: Pick<BenchOptions, 'browserModes' | 'browserCount' | 'browserTabs'>,
): Promise<{ results: BrowserResult[]; failed: string[] }> {
  const runs = cases.flatMap((c, i) => options.browserModes.map((mode) => ({ c, mode, config: configs[i] as Config })));
  const transports = [...new Set(cases.map((c) => c.transport))];
  lab.progress.log(
    `[busbench] real browsers: ${options.browserCount} Chromium browsers x ${options.browserTabs} tabs, ` +
      `modes ${options.browserModes.join(', ')} on ${transports.join(', ')}, poll timeout ${configs[0]?.pollTimeout} s, ` +
      `${runs.length} measurement(s)`,
  );
  return lab.runAll(
    runs.map(({ c, mode, config }) => ({
      name: `${c.id} ${mode}`,
      config,
      measure: (running) =>
        measure(c, mode, {
          running,
          browsers: options.browserCount,
          tabs: options.browserTabs,
          transport: c.transport,
        }),
    })),
  );
}
