// Seed 002 (optimistic concurrency): what SERIALIZABLE costs against REPEATABLE READ, what
// retrying the whole transaction saves the user, and what a side effect sent before the commit
// does to a reader. The first two run the bench's presence-storm load (every poll rewrites its
// user's presence row, so conflicts are frequent); the third needs posts timed against parked
// polls, which the experiment drives itself.
import type { CaseResult, RunFile } from '../bench/results.js';
import { failedAttempts } from '../bench/validity.js';
import { type BenchFlags, commandLine } from './bench-run.js';
import {
  type CaseRef,
  type Experiment,
  type Finding,
  findingHead,
  type StudyContext,
  type Verdict,
} from './experiment.js';
import {
  beyondNoise,
  bugShows,
  login,
  meanOf,
  meanSpread,
  measureCases,
  rate,
  request,
  runsNote,
  type ServerFlags,
  saveMeasurements,
  scrape,
  serveCommand,
  show,
  sleep,
} from './seed-lab.js';

const SEED = '002';
const SOURCE = '002_3dc07601e7061715.txt';
const PROFILE = 'presence-storm';
/** "a couple of percents", read generously. */
const CLAIMED_PENALTY_PERCENT = 5;
/** Posts per second: the profile's 1 leaves a handful in a quick window, where one late post voids a case. */
const RATE = 4;
/** Half the profile's 20 users (80 tabs): still two browsers of four tabs per user, lighter on a shared machine. */
const USERS = 10;

type Bench = { folder: string; run: RunFile };
type Pick = (c: CaseResult) => number | null;

function validCases(
  bench: Bench,
  match: (c: CaseResult) => boolean,
): { valid: CaseResult[]; invalid: string[]; refs: CaseRef[] } {
  const cases = bench.run.cases.filter(match);
  const refs = cases.map((c) => ({ run: bench.folder, id: c.id, valid: c.validity?.valid !== false }));
  const invalid = cases
    .filter((c) => c.validity?.valid === false)
    .map((c) => `${c.id} (${bench.folder}): ${c.validity?.reasons.join('; ')}`);
  if (cases.length === 0) invalid.push(`${bench.folder}: no case matched`);
  return { valid: cases.filter((c) => c.validity?.valid !== false), invalid, refs };
}

const postP50: Pick = (c) => c.totals.client.post_latency_ms.p50;
const pollP50: Pick = (c) => c.totals.client.poll_latency_ms.p50;
const commits = (c: CaseResult) => c.totals.database.app.total.commits;
// The rates the verdicts weigh, with their counting noise for a single run.
const failedPer1000 = (cases: CaseResult[]) => rate(cases, (c) => failedAttempts(c.totals), commits, 1000);
const finalPer1000 = (cases: CaseResult[]) =>
  rate(cases, (c) => c.totals.database.app.total.final_failures, commits, 1000);
const commitsPerSecond = (cases: CaseResult[]) => rate(cases, commits, (c) => c.measured_seconds, 1);
/** SQLSTATE 40001 alone, whatever PostgreSQL's message (serializable adds its own texts to repeatable read's). */
const serializationFailures: Pick = (c) =>
  Object.values(c.totals.database.app.failure_messages?.['40001'] ?? {}).reduce((a, n) => a + n, 0);
/** What a commit costs the serving process: under an open load the cost shows here, not in requests per second. */
const serverCpu = (c: CaseResult) => c.totals.server.processes.reduce((a, p) => a + p.cpu_seconds, 0);
const cpuPerCommit: Pick = (c) => (commits(c) > 0 ? (1000 * serverCpu(c)) / commits(c) : null);
/**
 * The same CPU over every attempt, committed or failed: where it matches repeatable read's, the
 * penalty per commit is the extra failed attempts, not a dearer transaction.
 */
const cpuPerAttempt: Pick = (c) => {
  const attempts = commits(c) + failedAttempts(c.totals);
  return attempts > 0 ? (1000 * serverCpu(c)) / attempts : null;
};
const pollP99: Pick = (c) => c.totals.client.poll_latency_ms.p99;
const retries: Pick = (c) => c.totals.database.app.total.retries;
const finalFailures: Pick = (c) => c.totals.database.app.total.final_failures;
const failedPolls: Pick = (c) => {
  const byStatus = c.totals.client.requests['bus.poll'] ?? {};
  return Object.entries(byStatus)
    .filter(([status]) => status !== '200')
    .reduce((a, [, n]) => a + n, 0);
};

const isolationClaim = 'Serializable transactions may incur a performance penalty, measured in couple of percents.';

/**
 * A presence-storm bench of the study: the bench's --quick phases, the study's rate and users,
 * and its own window. The profile's --quick window (20 s) is sized for its 1 post/s; at the
 * study's 4 posts/s, 6 s already holds about 24 posts. `own` are what the bench is for.
 */
function stormFlags(ctx: StudyContext, own: BenchFlags): BenchFlags {
  return {
    layouts: 'single-process',
    profile: PROFILE,
    ...own,
    quick: true,
    rate: RATE,
    users: USERS,
    duration: ctx.quick ? 6 : 15,
    repeat: ctx.repeat,
  };
}

/** The isolation bench; its repeatable-read case (Odoo's 5 tries, the default) is also the retry finding's retried case. */
function isolationFlags(ctx: StudyContext): BenchFlags {
  return stormFlags(ctx, { isolation: 'repeatable-read,serializable' });
}

/** The same load with one try: the first 40001 is the user's failure. */
function noRetryFlags(ctx: StudyContext): BenchFlags {
  return stormFlags(ctx, { 'max-tries': 1 });
}

const SERIALIZABLE_TITLE = 'the cost of serializable against repeatable read';

const serializablePenalty: Experiment = {
  seed: SEED,
  id: 'serializable-penalty',
  title: SERIALIZABLE_TITLE,
  claim: isolationClaim,
  source: SOURCE,
  async run(ctx: StudyContext): Promise<Finding> {
    const bench = await ctx.bench('isolation', isolationFlags(ctx));
    const rr = validCases(bench, (c) => c.isolation === 'repeatable-read');
    const ser = validCases(bench, (c) => c.isolation === 'serializable');
    const invalid = [...rr.invalid, ...ser.invalid];
    const of = (cases: CaseResult[], pick: Pick) => cases.map(pick);
    const rrLatency = meanSpread(of(rr.valid, cpuPerCommit));
    const serLatency = meanSpread(of(ser.valid, cpuPerCommit));
    const penalty =
      rrLatency.mean && serLatency.mean !== null ? (100 * (serLatency.mean - rrLatency.mean)) / rrLatency.mean : null;
    const noisePercent = rrLatency.mean ? (100 * (rrLatency.spread + serLatency.spread)) / rrLatency.mean : null;
    let verdict: Verdict = 'no verdict';
    const differs = beyondNoise(of(rr.valid, cpuPerCommit), of(ser.valid, cpuPerCommit));
    if (invalid.length === 0 && penalty !== null) {
      if (ctx.repeat < 2) {
        // Single runs of this case moved by 10 to 46 % on the shared 2-core machine: far more than the claim.
        invalid.push('one run has no spread, and a couple of percents needs one: rerun with --repeat 3 or more');
      } else if (!differs && (noisePercent ?? Infinity) > CLAIMED_PENALTY_PERCENT) {
        invalid.push(
          `the runs' spread (+- ${noisePercent?.toFixed(1)} % of the CPU per commit) is larger than the claimed couple ` +
            'of percents: rerun with a larger --repeat',
        );
      } else {
        verdict =
          !differs || Math.abs(penalty) <= CLAIMED_PENALTY_PERCENT ? 'reproduced' : 'reproduced with a different size';
      }
    }
    const row = (label: string, cases: CaseResult[]) => ({
      label,
      values: {
        'server CPU ms per commit': show(of(cases, cpuPerCommit), 2),
        'server CPU ms per attempt': show(of(cases, cpuPerAttempt), 2),
        'poll latency p50 ms': show(of(cases, pollP50)),
        'poll latency p99 ms': show(of(cases, pollP99)),
        'post latency p50 ms': show(of(cases, postP50)),
        'commits/s': show(commitsPerSecond(cases)),
        'failed attempts per 1,000 commits': show(failedPer1000(cases)),
        '40001s': show(of(cases, serializationFailures), 0),
      },
    });
    const moreAborts =
      beyondNoise(failedPer1000(rr.valid), failedPer1000(ser.valid)) &&
      (meanOf(failedPer1000(ser.valid)) ?? 0) > (meanOf(failedPer1000(rr.valid)) ?? 0);
    const perAttemptDiffers = beyondNoise(of(rr.valid, cpuPerAttempt), of(ser.valid, cpuPerAttempt));
    const fewerCommits =
      beyondNoise(commitsPerSecond(rr.valid), commitsPerSecond(ser.valid)) &&
      (meanOf(commitsPerSecond(ser.valid)) ?? 0) < (meanOf(commitsPerSecond(rr.valid)) ?? 0);
    const penaltyText = penalty === null ? 'n/a' : `${penalty >= 0 ? '+' : ''}${penalty.toFixed(1)} %`;
    const measured = `serializable ${penaltyText} server CPU per commit against repeatable read (${show(of(ser.valid, cpuPerCommit), 2)} against ${show(of(rr.valid, cpuPerCommit), 2)} ms)`;
    return {
      ...findingHead(serializablePenalty),
      summary: invalid.length > 0 ? `no verdict: ${invalid[0]}; measured ${measured}` : measured,
      setup:
        `\`${commandLine(isolationFlags(ctx))}\`: ` +
        "presence-storm's short " +
        "polls (1 s) rewrite their user's presence row (every-poll presence, retried up to 5 tries). An open model: " +
        'the load sets the requests per second, so the penalty shows in what each commit costs the server (CPU ' +
        'seconds of the serving process over commits), in latency and in failed attempts, not in throughput.',
      columns: [
        'server CPU ms per commit',
        'server CPU ms per attempt',
        'poll latency p50 ms',
        'poll latency p99 ms',
        'post latency p50 ms',
        'commits/s',
        'failed attempts per 1,000 commits',
        '40001s',
      ],
      figures: [row('repeatable-read', rr.valid), row('serializable', ser.valid)],
      chart: {
        title: 'Server CPU per committed transaction, by isolation level',
        kind: 'bar',
        x: ['repeatable-read', 'serializable'],
        series: [{ name: 'server CPU ms per commit', values: [rrLatency.mean, serLatency.mean] }],
        unit: 'ms',
      },
      verdict,
      mechanism:
        `Serializable changed the server's CPU per commit by ${penaltyText}${differs ? '' : ', within the noise of the runs'}` +
        `${ctx.repeat > 1 ? '' : ' (one run: no spread; --repeat 3 gives one)'}. Failed attempts per 1,000 ` +
        `commits: ${show(failedPer1000(ser.valid))} at serializable against ${show(failedPer1000(rr.valid))} ` +
        `at repeatable read${moreAborts ? ', so part of its cost is retried transactions' : ''}; per attempt ` +
        `(commits and failed attempts), the server's CPU was ${show(of(ser.valid, cpuPerAttempt), 2)} ms against ` +
        `${show(of(rr.valid, cpuPerAttempt), 2)}${perAttemptDiffers ? '' : ', the same within the noise'}; commits per second: ` +
        `${show(commitsPerSecond(ser.valid))} against ${show(commitsPerSecond(rr.valid))}` +
        `${fewerCommits ? ': under the same offered load, serializable committed less of it in the window' : ''}.`,
      invalid,
      runs: [bench.folder],
      cases: [...rr.refs, ...ser.refs],
    };
  },
};

const retryClaim =
  'If there is no application support for resolving the transaction conflict, one of the clients get HTTP 500 error ' +
  'page and other goes through.';

const RETRY_TITLE = 'whole-transaction retry against none: the failures a user sees';

const wholeRetry: Experiment = {
  seed: SEED,
  id: 'retry',
  title: RETRY_TITLE,
  claim: retryClaim,
  source: SOURCE,
  async run(ctx: StudyContext): Promise<Finding> {
    // The retried case is the isolation bench's repeatable-read one (--max-tries defaults to
    // Odoo's 5): the same load, run once for both findings.
    const retried = await ctx.bench('isolation', isolationFlags(ctx));
    const once = await ctx.bench('no-retry', noRetryFlags(ctx));
    const withRetry = validCases(retried, (c) => c.isolation === 'repeatable-read');
    const without = validCases(once, () => true);
    const invalid = [...withRetry.invalid, ...without.invalid];
    const of = (cases: CaseResult[], pick: Pick) => cases.map(pick);
    let verdict: Verdict = 'no verdict';
    if (invalid.length === 0) {
      const fewer = bugShows(finalPer1000(without.valid), finalPer1000(withRetry.valid));
      verdict = fewer === null ? 'no verdict' : fewer ? 'reproduced' : 'not reproduced';
    }
    const row = (label: string, cases: CaseResult[]) => ({
      label,
      values: {
        'final failures per 1,000 commits': show(finalPer1000(cases)),
        'polls that failed (user-visible)': show(of(cases, failedPolls), 0),
        'failed attempts per 1,000 commits': show(failedPer1000(cases)),
        retries: show(of(cases, retries), 0),
      },
    });
    return {
      ...findingHead(wholeRetry),
      summary:
        invalid.length > 0
          ? `invalid: ${invalid.join('; ')}`
          : `no retry: ${show(finalPer1000(without.valid))} final failures per 1,000 commits ` +
            `(${show(of(without.valid, failedPolls), 0)} failed polls); retried up to 5 tries: ` +
            `${show(finalPer1000(withRetry.valid))} (${show(of(withRetry.valid, failedPolls), 0)})`,
      setup:
        `\`${commandLine(isolationFlags(ctx))}\`'s repeatable-read case (--max-tries 5 by default: whole-transaction ` +
        `retry, Odoo's 5 tries) against \`${commandLine(noRetryFlags(ctx))}\` (no ` +
        `retry: the first 40001 is the user's failure, a 409 E_TX_CONFLICT where Websauna showed a 500); repeatable ` +
        `read; ${runsNote(ctx)}.`,
      columns: [
        'final failures per 1,000 commits',
        'polls that failed (user-visible)',
        'failed attempts per 1,000 commits',
        'retries',
      ],
      figures: [row('retry (5 tries)', withRetry.valid), row('no retry (1 try)', without.valid)],
      chart: {
        title: 'Units of work that failed for good, per 1,000 commits',
        kind: 'bar',
        x: ['retry (5 tries)', 'no retry (1 try)'],
        series: [
          {
            name: 'final failures per 1,000 commits',
            values: [meanOf(finalPer1000(withRetry.valid)), meanOf(finalPer1000(without.valid))],
          },
        ],
        unit: 'per 1,000 commits',
      },
      verdict,
      mechanism:
        `The conflicts happen either way (${show(failedPer1000(withRetry.valid))} and ` +
        `${show(failedPer1000(without.valid))} failed attempts per 1,000 commits): two tabs of one user write ` +
        `its presence row at once. Retried (the whole unit of work, up to 5 tries), a failed attempt ran again ` +
        `(${show(of(withRetry.valid, retries), 0)} retries); units of work that failed on every try: ` +
        `${show(of(withRetry.valid, finalFailures), 0)}, and the user saw ${show(of(withRetry.valid, failedPolls), 0)} failed polls. With one ` +
        `try each failed attempt was final (${show(of(without.valid, finalFailures), 0)}) and the user saw ` +
        `${show(of(without.valid, failedPolls), 0)} failed polls.`,
      invalid,
      runs: [retried.folder, once.folder],
      cases: [...withRetry.refs, ...without.refs],
    };
  },
};

// NOTIFY before commit: parked pollers of one channel, and posts at a steady interval.
const POLLERS = 8;
const POST_INTERVAL_MS = 500;
const POLL_TIMEOUT_S = 5;

interface Delivery {
  posts: number;
  expected: number;
  delivered: number;
  /** Arrived after the next post was sent: not woken by its own NOTIFY. */
  late: number;
  latencies: number[];
  wakeups: number;
  emptyWakeups: number;
}

async function postsToParkedPolls(url: string, posts: number): Promise<Delivery> {
  const tokens = await Promise.all(Array.from({ length: POLLERS }, (_, i) => login(url, `user${i + 1}`)));
  const poster = await login(url, `user${POLLERS + 1}`);
  const sentAt = new Map<string, number>();
  const arrivals: { clientId: string; at: number }[] = [];
  let stop = false;
  const pollers = tokens.map(async (token) => {
    let last = 0;
    // Bounded: the loop ends once the posts are done and every poll has come back.
    for (let n = 0; n < 10_000 && !stop; n++) {
      const reply = await request('POST', `${url}/bus/poll`, {
        token,
        body: { channels: ['channel:1'], last, options: { timeout: POLL_TIMEOUT_S } },
        timeoutMs: (POLL_TIMEOUT_S + 10) * 1000,
      });
      if (reply.status !== 200) throw new Error(`poll: ${reply.status} ${JSON.stringify(reply.body)}`);
      const at = Date.now();
      last = Number(reply.body.last);
      for (const n of reply.body.notifications as { payload: { message?: { client_id?: string } } }[]) {
        const clientId = n.payload.message?.client_id;
        if (clientId) arrivals.push({ clientId, at });
      }
    }
  });
  const before = await scrape(url);
  // The first polls of each poller are answered from history; let them park.
  await sleep(1000);
  for (let i = 0; i < posts; i++) {
    const clientId = `p${i}`;
    sentAt.set(clientId, Date.now());
    const reply = await request('POST', `${url}/channels/1/messages`, {
      token: poster,
      body: { body: `post ${i}`, client_id: clientId },
    });
    if (reply.status !== 201) throw new Error(`post: ${reply.status} ${JSON.stringify(reply.body)}`);
    await sleep(POST_INTERVAL_MS);
  }
  // A poll woken too early waits out its timeout before it asks again: so long at most, and no
  // longer once every post has reached every poller.
  const expected = posts * POLLERS;
  const deadline = Date.now() + (POLL_TIMEOUT_S + 1) * 1000;
  while (arrivals.filter((a) => sentAt.has(a.clientId)).length < expected && Date.now() < deadline) await sleep(50);
  stop = true;
  const after = await scrape(url);
  // The parked polls would end at their timeout; a closing post (no one's delivery) answers
  // them now, again while one was woken too early and parked once more. Bounded by count.
  const ended = Promise.all(pollers).then(() => true);
  for (let i = 0; i < 4 * (POLL_TIMEOUT_S + 1); i++) {
    if (await Promise.race([ended, sleep(250).then(() => false)])) break;
    await request('POST', `${url}/channels/1/messages`, {
      token: poster,
      body: { body: 'closing post', client_id: `closing-${i}` },
    });
  }
  await ended;
  const latencies: number[] = [];
  let late = 0;
  for (const a of arrivals) {
    const sent = sentAt.get(a.clientId);
    if (sent === undefined) continue;
    latencies.push(a.at - sent);
    if (a.at - sent > POST_INTERVAL_MS) late++;
  }
  return {
    posts,
    expected,
    delivered: latencies.length,
    late,
    latencies: latencies.sort((x, y) => x - y),
    wakeups: after('busbench_bus_waiters_woken_total') - before('busbench_bus_waiters_woken_total'),
    emptyWakeups: after('busbench_bus_empty_wakeups_total') - before('busbench_bus_empty_wakeups_total'),
  };
}

const notifyClaim = 'Executing actions on succesfully commits';

const NOTIFY_TITLE = 'NOTIFY before commit against after: what a woken poll sees';

const notifyBeforeCommit: Experiment = {
  seed: SEED,
  id: 'notify-before-commit',
  title: NOTIFY_TITLE,
  claim: notifyClaim,
  source: SOURCE,
  async run(ctx: StudyContext): Promise<Finding> {
    const posts = ctx.quick ? 12 : 30;
    const flags = (before: boolean): ServerFlags => ({
      topology: 'single-process',
      pollTimeout: String(POLL_TIMEOUT_S),
      poolSize: '20',
      notifyBeforeCommit: String(before),
    });
    const cases = [
      { name: 'NOTIFY after commit (Odoo 12+)', flags: flags(false) },
      { name: 'NOTIFY before commit (Odoo 8.0)', flags: flags(true) },
    ];
    const results = await measureCases(ctx, cases, (running) => postsToParkedPolls(running.layout.url, posts));
    const [after = [], before = []] = cases.map((c) => results.get(c.name) ?? []);
    const invalid: string[] = [];
    for (const [name, runs] of results) {
      for (const r of runs) {
        if (r.delivered === 0) invalid.push(`${name}: nothing delivered`);
        if (r.delivered < r.expected) invalid.push(`${name}: ${r.expected - r.delivered} deliveries missing`);
      }
    }
    const saved = await saveMeasurements(
      ctx,
      notifyBeforeCommit,
      { posts, pollers: POLLERS, postIntervalMs: POST_INTERVAL_MS, pollTimeoutS: POLL_TIMEOUT_S },
      cases,
      results,
      invalid,
    );
    const latePer100 = (rs: Delivery[]) =>
      rate(
        rs,
        (r) => r.late,
        (r) => r.delivered,
      );
    const emptyPer100 = (rs: Delivery[]) =>
      rate(
        rs,
        (r) => r.emptyWakeups,
        (r) => r.wakeups,
      );
    const pct = (rs: Delivery[], p: number) =>
      rs.map((r) => r.latencies[Math.min(r.latencies.length - 1, Math.floor((p / 100) * r.latencies.length))] ?? null);
    let verdict: Verdict = 'no verdict';
    if (invalid.length === 0) {
      const more = bugShows(emptyPer100(before), emptyPer100(after));
      const noneAfter = after.every((r) => r.emptyWakeups === 0 && r.late === 0);
      verdict =
        more === null
          ? 'no verdict'
          : !more
            ? 'not reproduced'
            : noneAfter
              ? 'reproduced'
              : 'reproduced with a different size';
    }
    const row = (label: string, rs: Delivery[]) => ({
      label,
      values: {
        'empty wake-ups per 100 wake-ups': show(emptyPer100(rs)),
        'late deliveries per 100': show(latePer100(rs)),
        'delivery p50 ms': show(pct(rs, 50), 0),
        'delivery p99 ms': show(pct(rs, 99), 0),
        'delivered / expected': rs.map((r) => `${r.delivered}/${r.expected}`).join(', '),
      },
    });
    return {
      ...findingHead(notifyBeforeCommit),
      summary:
        invalid.length > 0
          ? `invalid: ${invalid.join('; ')}`
          : `before commit: ${show(emptyPer100(before))} empty wake-ups per 100 and ${show(latePer100(before))} late ` +
            `deliveries per 100; after commit: ${show(emptyPer100(after))} and ${show(latePer100(after))}`,
      setup:
        `single-process, default seed data; ${POLLERS} users long-poll channel 1 (timeout ${POLL_TIMEOUT_S} s) while ` +
        `another posts ${posts} messages to it, one every ${POST_INTERVAL_MS} ms. A delivery is late when it ` +
        `arrived more than ${POST_INTERVAL_MS} ms after its post was sent: after the next post, so not woken by its ` +
        `own NOTIFY. Cases: ${cases.map((c) => `\`${serveCommand(c.flags)}\``).join(' and ')}; ${runsNote(ctx)}, ` +
        'each on a fresh database.',
      columns: [
        'empty wake-ups per 100 wake-ups',
        'late deliveries per 100',
        'delivery p50 ms',
        'delivery p99 ms',
        'delivered / expected',
      ],
      figures: [row(cases[0]?.name ?? '', after), row(cases[1]?.name ?? '', before)],
      chart: {
        title: 'Parked polls woken with nothing to fetch, per 100 wake-ups',
        kind: 'bar',
        x: cases.map((c) => c.name),
        series: [
          { name: 'empty wake-ups per 100', values: [meanOf(emptyPer100(after)), meanOf(emptyPer100(before))] },
          { name: 'late deliveries per 100', values: [meanOf(latePer100(after)), meanOf(latePer100(before))] },
        ],
        unit: 'per 100',
      },
      verdict,
      mechanism:
        `Sent before the commit, the NOTIFY woke the parked polls while the post's row was not yet visible: ` +
        `${show(emptyPer100(before))} of 100 wake-ups fetched nothing (the server's busbench_bus_empty_wakeups_total), ` +
        'and such a poll sleeps again until the next post or its timeout, so ' +
        `${show(latePer100(before))} of 100 deliveries came late (p99 ${show(pct(before, 99), 0)} ms). Sent after ` +
        `the commit: ${show(emptyPer100(after))} empty wake-ups and ${show(latePer100(after))} late deliveries per ` +
        `100 (p99 ${show(pct(after, 99), 0)} ms). Nothing was lost either way: the row is fetched by id later.`,
      invalid,
      runs: saved.runs,
      cases: saved.cases,
    };
  },
};

export const experiments: Experiment[] = [serializablePenalty, wholeRetry, notifyBeforeCommit];
