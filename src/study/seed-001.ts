// Seed 001 (web client concurrency): the chat page in real Chromium, its history loads and
// posts held for a random time each (playwright intercepts them in the browser), so answers
// come back in random order. With KeepLast a quick channel switch always ends on the channel
// clicked last; with ?keeplast=off the page shows whichever answer came last. With the Mutex
// posts reach the server in the order sent; with ?mutex=off they overtake one another.

import pg from 'pg';
import type { Browser, Page, Route } from 'playwright-core';
import { launchChromium, openTab, tabUrl } from '../bench/browser-tabs.js';
import type { RunningCase } from '../bench/lifecycle.js';
import { type Experiment, type Finding, findingHead, type StudyContext, type Verdict } from './experiment.js';
import {
  bugShows,
  meanOf,
  measureCases,
  rate,
  runsNote,
  type ServerFlags,
  saveMeasurements,
  serveCommand,
  show,
  sleep,
} from './seed-lab.js';

const SEED = '001';
const SOURCE = '001_77cc836c686efc24.txt';
/** Every request to /channels/N/messages waits uniform(0, MAX_DELAY_MS) in the browser first. */
const MAX_DELAY_MS = 300;
const USER = 'user3';
const OPEN_TIMEOUT_MS = 60_000;
const SETTLE_TIMEOUT_MS = 10_000;
const POSTS_PER_BURST = 5;
const FLAGS: ServerFlags = { topology: 'single-process' };

/** A seeded generator (mulberry32): the same delays in every run of a variant. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Requests to the messages endpoints held in the browser, and what is in flight. */
class Jitter {
  readonly #next = random(1);
  pendingGets = 0;
  startedGets = 0;
  postsInFlight = 0;
  maxPostsInFlight = 0;
  /** Channel ids of history answers, in the order they finished. */
  readonly finished: number[] = [];

  async attach(page: Page): Promise<void> {
    const matches = (url: string) => /\/channels\/\d+\/messages/.test(url);
    const done = (method: string, url: string) => {
      if (!matches(url)) return;
      if (method === 'GET') {
        this.pendingGets--;
        this.finished.push(Number(/\/channels\/(\d+)\//.exec(url)?.[1]));
      } else this.postsInFlight--;
    };
    page.on('requestfinished', (r) => done(r.method(), r.url()));
    page.on('requestfailed', (r) => done(r.method(), r.url()));
    await page.route(/\/channels\/\d+\/messages/, async (route: Route) => {
      const method = route.request().method();
      if (method === 'GET') {
        this.pendingGets++;
        this.startedGets++;
      } else {
        this.postsInFlight++;
        this.maxPostsInFlight = Math.max(this.maxPostsInFlight, this.postsInFlight);
      }
      await sleep(this.#next() * MAX_DELAY_MS);
      await route.continue();
    });
  }

  /** Waits until `gets` history loads have reached the route since `from` started, and everything has finished. */
  async settled(page: Page, from = this.startedGets, gets = 0): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (this.startedGets < from + gets || this.pendingGets > 0 || this.postsInFlight > 0) {
      if (Date.now() > deadline) throw new Error('requests to the messages endpoints did not finish in 10 s');
      await sleep(10);
    }
    // The answer's render is a microtask away; give it a frame.
    await page.waitForTimeout(30);
  }
}

async function withPage<T>(
  browser: Browser,
  url: string,
  switches: string,
  run: (page: Page, jitter: Jitter) => Promise<T>,
): Promise<T> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  try {
    const page = await openTab(context, `${tabUrl(url, USER, 'every-tab')}&channel=1${switches}`, OPEN_TIMEOUT_MS);
    await page.waitForFunction("document.getElementById('messages').dataset.channelId === '1'", undefined, {
      timeout: OPEN_TIMEOUT_MS,
    });
    const jitter = new Jitter();
    await jitter.attach(page);
    return await run(page, jitter);
  } finally {
    await context.close();
  }
}

interface Switched {
  switches: number;
  wrong: number;
  /** Switches whose first channel's answer finished after the second's. */
  olderLast: number;
}

async function quickSwitches(browser: Browser, url: string, switches: string, n: number): Promise<Switched> {
  return withPage(browser, url, switches, async (page, jitter) => {
    const channels = await page.evaluate<number[]>(
      "[...document.querySelectorAll('#channels button[data-channel-id]')].map((b) => Number(b.dataset.channelId))",
    );
    if (channels.length < 3) throw new Error(`${USER} needs 3 channels to switch between, has ${channels.length}`);
    const pick = random(7);
    let wrong = 0;
    let olderLast = 0;
    for (let i = 0; i < n; i++) {
      const shown = Number(await page.evaluate<string>("document.getElementById('messages').dataset.channelId"));
      const others = channels.filter((c) => c !== shown);
      const first = others[Math.floor(pick() * others.length)] ?? 0;
      const rest = others.filter((c) => c !== first);
      const second = rest[Math.floor(pick() * rest.length)] ?? 0;
      const from = jitter.finished.length;
      const started = jitter.startedGets;
      // Two clicks in one task: as quick as a person changing their mind.
      await page.evaluate(
        `for (const id of [${first}, ${second}]) document.querySelector('#channels button[data-channel-id="' + id + '"]').click()`,
      );
      await jitter.settled(page, started, 2);
      const order = jitter.finished.slice(from);
      if (order.lastIndexOf(first) > order.lastIndexOf(second)) olderLast++;
      const now = Number(await page.evaluate<string>("document.getElementById('messages').dataset.channelId"));
      if (now !== second) wrong++;
    }
    return { switches: n, wrong, olderLast };
  });
}

interface Posted {
  posts: number;
  outOfOrder: number;
  maxInFlight: number;
}

async function postBursts(
  browser: Browser,
  running: RunningCase,
  switches: string,
  bursts: number,
  tag: string,
): Promise<Posted> {
  return withPage(browser, running.layout.url, switches, async (page, jitter) => {
    for (let b = 0; b < bursts; b++) {
      const posts = Array.from({ length: POSTS_PER_BURST }, (_, i) => `'${tag}-${b}-${i}'`);
      await page.evaluate(
        `Promise.all([${posts.map((id) => `busbench.post(1, 'burst ' + ${id}, ${id})`).join(', ')}])`,
      );
      await jitter.settled(page);
    }
    const client = new pg.Client({ connectionString: running.databaseUrl, application_name: 'busbench/study/001' });
    await client.connect();
    let outOfOrder = 0;
    let stored = 0;
    try {
      const { rows } = await client.query<{ client_id: string }>(
        'SELECT client_id FROM messages WHERE client_id LIKE $1 ORDER BY id',
        [`${tag}-%`],
      );
      stored = rows.length;
      // A post is out of order when one sent after it (same burst) was stored before it.
      const highest = new Map<number, number>();
      for (const row of rows) {
        const [, burst = 0, seq = 0] = row.client_id.split('-').map(Number);
        if ((highest.get(burst) ?? -1) > seq) outOfOrder++;
        highest.set(burst, Math.max(highest.get(burst) ?? -1, seq));
      }
    } finally {
      await client.end();
    }
    if (stored !== bursts * POSTS_PER_BURST) throw new Error(`${stored} of ${bursts * POSTS_PER_BURST} posts stored`);
    return { posts: stored, outOfOrder, maxInFlight: jitter.maxPostsInFlight };
  });
}

/** Quick channel switches and bursts of posts per run of each variant. */
function sizes(ctx: StudyContext): { switches: number; bursts: number } {
  return ctx.quick ? { switches: 24, bursts: 6 } : { switches: 60, bursts: 12 };
}

interface PageRuns {
  keepLast: { with: Switched; without: Switched };
  mutex: { with: Posted; without: Posted };
}

const CASES = [{ name: 'single-process', flags: FLAGS }];

/**
 * Both experiments' pages, measured once per study on one layout and one Chromium per run:
 * a layout's start and a browser's launch took more of a quick run than the clicks did.
 */
function measurePages(ctx: StudyContext): Promise<Map<string, PageRuns[]>> {
  const { switches, bursts } = sizes(ctx);
  return ctx.shared(`001 pages: ${switches} switches, ${bursts} bursts`, () =>
    measureCases(ctx, CASES, async (running): Promise<PageRuns> => {
      const browser = await launchChromium();
      try {
        const url = running.layout.url;
        return {
          keepLast: {
            with: await quickSwitches(browser, url, '', switches),
            without: await quickSwitches(browser, url, '&keeplast=off', switches),
          },
          mutex: {
            with: await postBursts(browser, running, '', bursts, 'with'),
            without: await postBursts(browser, running, '&mutex=off', bursts, 'without'),
          },
        };
      } finally {
        await browser.close();
      }
    }),
  );
}

/** One experiment's part of the shared page runs, by case, as saveMeasurements records it. */
function partOf<K extends keyof PageRuns>(all: Map<string, PageRuns[]>, key: K): Map<string, PageRuns[K][]> {
  return new Map([...all].map(([name, runs]) => [name, runs.map((r) => r[key])]));
}

const setupCommon =
  `\`${serveCommand(FLAGS)}\` with the default seed data; the chat page (every-tab mode) in headless Chromium, logged ` +
  `in as ${USER}; every request to /channels/N/messages held in the browser for uniform(0, ${MAX_DELAY_MS}) ms ` +
  '(playwright route interception, seeded), so answers come back in random order.';

const keepLast: Experiment = {
  seed: SEED,
  id: 'keeplast',
  title: 'KeepLast against quick channel switches, in Chromium',
  claim:
    'we probably want to stop (as much as possible) the first action, and start immediately the new action, so the ' +
    'web client will only display the second action, and will do it as fast as possible. This can be done by using ' +
    'the KeepLast primitive from Odoo',
  source: SOURCE,
  async run(ctx: StudyContext): Promise<Finding> {
    const n = sizes(ctx).switches;
    const cases = CASES;
    const results = partOf(await measurePages(ctx), 'keepLast');
    const runs = results.get('single-process') ?? [];
    const withIt = runs.map((r) => r.with);
    const without = runs.map((r) => r.without);
    const wrong = (rs: Switched[]) =>
      rate(
        rs,
        (r) => r.wrong,
        (r) => r.switches,
      );
    const older = (rs: Switched[]) =>
      rate(
        rs,
        (r) => r.olderLast,
        (r) => r.switches,
      );
    const invalid = [...withIt, ...without].some((r) => r.switches === 0) ? ['single-process: no switch was made'] : [];
    const saved = await saveMeasurements(
      ctx,
      keepLast,
      {
        switches: n,
        user: USER,
        maxDelayMs: MAX_DELAY_MS,
        variants: { KeepLast: '', '?keeplast=off': '&keeplast=off' },
      },
      cases,
      results,
      invalid,
    );
    const withWrong = withIt.reduce((a, r) => a + r.wrong, 0);
    let verdict: Verdict = 'no verdict';
    const summary =
      invalid.length > 0
        ? `invalid: ${invalid.join('; ')}`
        : `?keeplast=off: ${show(wrong(without))} wrong displays per 100 switches; KeepLast: ${withWrong} in ` +
          `${withIt.reduce((a, r) => a + r.switches, 0)} switches`;
    if (invalid.length === 0) {
      const shows = bugShows(wrong(without), wrong(withIt));
      verdict = withWrong > 0 || shows === false ? 'not reproduced' : shows ? 'reproduced' : 'no verdict';
    }
    const row = (label: string, rs: Switched[]) => ({
      label,
      values: {
        'wrong displays per 100 switches': show(wrong(rs)),
        'older answer last, per 100 switches': show(older(rs)),
        switches: show(
          rs.map((r) => r.switches),
          0,
        ),
      },
    });
    return {
      ...findingHead(keepLast),
      summary,
      setup:
        `${setupCommon} ${n} quick switches: two channel clicks in one task (neither the shown one), then a wait ` +
        'until both answers are in; a wrong display is any channel but the one clicked last. Variants: the page as ' +
        `shipped and with ?keeplast=off; ${runsNote(ctx)}.`,
      columns: ['wrong displays per 100 switches', 'older answer last, per 100 switches', 'switches'],
      figures: [row('KeepLast', withIt), row('?keeplast=off', without)],
      chart: {
        title: 'Quick channel switches that ended on the wrong channel, per 100',
        kind: 'bar',
        x: ['KeepLast', '?keeplast=off'],
        series: [{ name: 'wrong displays per 100 switches', values: [meanOf(wrong(withIt)), meanOf(wrong(without))] }],
        unit: 'per 100 switches',
      },
      verdict,
      mechanism:
        `The first channel's answer came back after the second's in ${show(older(withIt))} and ` +
        `${show(older(without))} of 100 switches: the random delays reorder them either way. KeepLast resolved those ` +
        `older loads to SUPERSEDED, so ${withWrong} switches ended on the wrong channel; without it the page applied ` +
        `whichever answer came last: ${show(wrong(without))} wrong displays per 100 switches, close to the share of ` +
        'switches whose older answer came last.',
      invalid,
      runs: saved.runs,
      cases: saved.cases,
    };
  },
};

const mutex: Experiment = {
  seed: SEED,
  id: 'mutex',
  title: 'the Mutex against bursts of posts, in Chromium',
  claim:
    // The seed breaks the line before the colon ("Mutex\n: it is"): the quote leaves the stray colon out.
    'Many of these interactions can be coordinated with the help of a Mutex [...] it is basically a queue which wait for ' +
    'the previous job to be complete before executing the new one.',
  source: SOURCE,
  async run(ctx: StudyContext): Promise<Finding> {
    const bursts = sizes(ctx).bursts;
    const cases = CASES;
    const results = partOf(await measurePages(ctx), 'mutex');
    const runs = results.get('single-process') ?? [];
    const withIt = runs.map((r) => r.with);
    const without = runs.map((r) => r.without);
    const outOfOrder = (rs: Posted[]) =>
      rate(
        rs,
        (r) => r.outOfOrder,
        (r) => r.posts,
      );
    const inFlight = (rs: Posted[]) => rs.map((r) => r.maxInFlight);
    const invalid = [...withIt, ...without].some((r) => r.posts === 0) ? ['single-process: no post was stored'] : [];
    const saved = await saveMeasurements(
      ctx,
      mutex,
      {
        bursts,
        postsPerBurst: POSTS_PER_BURST,
        user: USER,
        maxDelayMs: MAX_DELAY_MS,
        variants: { Mutex: '', '?mutex=off': '&mutex=off' },
      },
      cases,
      results,
      invalid,
    );
    const withOut = withIt.reduce((a, r) => a + r.outOfOrder, 0);
    let verdict: Verdict = 'no verdict';
    const summary =
      invalid.length > 0
        ? `invalid: ${invalid.join('; ')}`
        : `?mutex=off: ${show(outOfOrder(without))} posts per 100 stored after a later one; Mutex: ${withOut} of ` +
          `${withIt.reduce((a, r) => a + r.posts, 0)}`;
    if (invalid.length === 0) {
      const shows = bugShows(outOfOrder(without), outOfOrder(withIt));
      verdict = withOut > 0 || shows === false ? 'not reproduced' : shows ? 'reproduced' : 'no verdict';
    }
    const row = (label: string, rs: Posted[]) => ({
      label,
      values: {
        'out-of-order posts per 100': show(outOfOrder(rs)),
        'most posts in flight at once': show(inFlight(rs), 0),
        posts: show(
          rs.map((r) => r.posts),
          0,
        ),
      },
    });
    return {
      ...findingHead(mutex),
      summary,
      setup:
        `${setupCommon} ${bursts} bursts of ${POSTS_PER_BURST} posts sent at once from the page (window.busbench.post, ` +
        "the chat's own post path); a post is out of order when one sent after it in its burst was stored first " +
        `(messages.id). Variants: the page as shipped and with ?mutex=off; ${runsNote(ctx)}.`,
      columns: ['out-of-order posts per 100', 'most posts in flight at once', 'posts'],
      figures: [row('Mutex', withIt), row('?mutex=off', without)],
      chart: {
        title: 'Posts stored after a post sent later, per 100',
        kind: 'bar',
        x: ['Mutex', '?mutex=off'],
        series: [
          { name: 'out-of-order posts per 100', values: [meanOf(outOfOrder(withIt)), meanOf(outOfOrder(without))] },
        ],
        unit: 'per 100 posts',
      },
      verdict,
      mechanism:
        `With the Mutex at most ${show(inFlight(withIt), 0)} post was in flight at a time, so each waited for the ` +
        `previous answer and ${withOut} posts were stored out of order. Without it up to ${show(inFlight(without), 0)} ` +
        `posts were in flight at once and the random delays reordered them: ${show(outOfOrder(without))} of 100 ` +
        'stored after a post sent later.',
      invalid,
      runs: saved.runs,
      cases: saved.cases,
    };
  },
};

export const experiments: Experiment[] = [keepLast, mutex];
