// Seed 000 (the bus on Odoo 8.0): five claims of the blog post, each measured on the kit's
// seed-000 profile (20 tabs a browser behind 6 connections, 8.0 presence and whole-poll retry).
// One bench of the three layouts is the baseline the other findings compare against; the
// study runs it once and hands the same run to every experiment that asks for it.
import type { CaseResult, RunFile } from '../bench/results.js';
import { failedAttempts } from '../bench/validity.js';
import type { BenchFlags } from './bench-run.js';
import { type Experiment, type Finding, findingHead, type StudyContext, type Verdict } from './experiment.js';
import {
  chartValue,
  compare,
  conflictsChart,
  conflictsFigure,
  type Figure,
  figure,
  type Group,
  group,
  invalidOf,
  mean,
  noise,
  peakConnections,
  per1000Figure,
  pollsPerSecond,
  show,
  spreadCaption,
  table,
} from './figures.js';

const SEED = '000';
const SOURCE = '000_facf343b7063674d.txt';
const THREADED = 'worker-threads';
const FORKED = 'dedicated-longpoll';
const PREFORK = 'cluster-fork';

/**
 * The threaded server and prefork plus the gevent process (the seed's two deployments), then
 * prefork alone; --quick leaves prefork alone out, as a layout's start is much of a quick case.
 */
function layoutsOf(ctx: StudyContext): string[] {
  return ctx.quick ? [THREADED, FORKED] : [THREADED, FORKED, PREFORK];
}
/** The seed's report: about 1,000 conflicts a day before the hidden-tab slowdown, under 50 after. */
const SEED_RATIO = 20;
const RR_MESSAGE = 'could not serialize access due to concurrent update';

/** Seconds measured per case: short enough for the study's budget, three 2 s poll cycles at least. */
function windows(ctx: StudyContext): { measured: number; slowed: number } {
  // A hidden tab of the slowed profile sleeps 5-24 s between polls: its window spans one to three of them.
  return ctx.quick ? { measured: 8, slowed: 20 } : { measured: 15, slowed: 40 };
}

/** The bench's --quick phases (2 s poll timeout and presence interval, 3 s warm-up) with the study's window. */
function flags(ctx: StudyContext, own: BenchFlags, measured = windows(ctx).measured): BenchFlags {
  return { profile: 'seed-000', quick: true, duration: measured, repeat: ctx.repeat, ...own };
}

function baseline(ctx: StudyContext) {
  return ctx.bench('layouts', flags(ctx, { layouts: layoutsOf(ctx).join(',') }));
}

type Bench = { folder: string; run: RunFile };

/** The profile as the run resolved it, in the words of the README's profile table. */
function profileSetup(run: RunFile): string {
  const p = run.profile as Record<string, unknown> & { name: string };
  const tabs = Number(p.users) * Number(p.browsersPerUser) * Number(p.tabsPerBrowser);
  const windowsPerBrowser = Number(p.windowsPerBrowser);
  const hidden = Number(p.tabsPerBrowser) - windowsPerBrowser;
  const hiddenPolls = p.hiddenSlowdown ? 'wait 4 s + 1-20 s between polls' : 'poll like the visible ones';
  return (
    `profile \`${p.name}\`: ${p.users} users x ${p.browsersPerUser} browser x ${p.tabsPerBrowser} tabs = ${tabs} tabs, ` +
    `${windowsPerBrowser} windows a browser (${hidden} hidden tabs a browser, which ${hiddenPolls}), ` +
    `${p.connectionsPerOrigin} connections per browser, ${p.tabMode} mode, ${p.rate} post/s (${p.arrivals}); ` +
    `presence \`${p.presence}\` (Odoo 8.0: write only when last_poll is older than ${p.presenceInterval} s) with ` +
    `retry preset \`${p.retryPreset}\` (a conflict re-runs the whole poll, 5 tries), isolation \`${p.isolation}\`; ` +
    `poll timeout ${p.pollTimeout} s (the bench's --quick; Odoo's is 50 s), ${p.warmup} s warm-up, ${p.duration} s measured`
  );
}

function rerun(run: RunFile): string {
  return `\`${run.command.replace(/ --out \S+/, '')}\``;
}

/** Every case ref of the groups, and whether each needed case has valid runs only. */
function backing(groups: Group[]): { cases: Finding['cases']; invalid: string[]; ok: boolean } {
  const invalid = invalidOf(groups);
  const empty = groups.filter((g) => g.valid.length === 0 && g.invalid.length === 0).map((g) => `${g.id}: no run`);
  return {
    cases: groups.flatMap((g) => g.refs),
    invalid: [...invalid, ...empty],
    ok: invalid.length + empty.length === 0,
  };
}

/** The summary of a finding without a verdict: its first invalid case and why. */
function noVerdict(invalid: string[]): string {
  const [first] = invalid;
  if (!first) return 'no verdict';
  return `invalid: ${first}${invalid.length > 1 ? ` (and ${invalid.length - 1} more)` : ''}`;
}

function runsOf(...benches: Bench[]): string[] {
  return [...new Set(benches.map((b) => b.folder))];
}

function num(value: number | null, digits = 1): string {
  return value === null || !Number.isFinite(value)
    ? 'n/a'
    : value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

function sumOver(g: Group, value: (c: CaseResult) => number): number {
  return g.valid.reduce((a, c) => a + value(c), 0);
}

/** 40001s, 40P01s and 55P03s of the group's valid runs, by SQLSTATE and PostgreSQL's message text. */
function messages(g: Group): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const c of g.valid) {
    for (const [sqlstate, texts] of Object.entries(c.totals.database.app.failure_messages ?? {})) {
      for (const [text, n] of Object.entries(texts)) {
        out[sqlstate] = { ...out[sqlstate], [text]: (out[sqlstate]?.[text] ?? 0) + n };
      }
    }
  }
  return out;
}

function messagesText(m: Record<string, Record<string, number>>): string {
  const parts = Object.entries(m).flatMap(([sqlstate, texts]) =>
    Object.entries(texts).map(([text, n]) => `${sqlstate} "${text}" x${n}`),
  );
  return parts.length > 0 ? parts.join('; ') : 'none';
}

const serializationFailures = (c: CaseResult) => c.totals.database.app.total.serialization_failures;
const commits = (c: CaseResult) => c.totals.database.app.total.commits;

function serializationPer1000(g: Group): Figure {
  return figure(g, (c) => (commits(c) > 0 ? (serializationFailures(c) / commits(c)) * 1000 : null), 1, {
    events: serializationFailures,
    perEvent: (c) => (commits(c) > 0 ? 1000 / commits(c) : 0),
  });
}

function exact(g: Group, value: (c: CaseResult) => number | null, digits = 0): Figure {
  return figure(g, value, digits);
}

/** Pooled connections (the LISTEN one left out) of the processes that run the poll's transactions. */
const POLL_POOLS: Record<string, RegExp> = {
  'worker-threads': /\/http\/\d+$/,
  'dedicated-longpoll': /\/bus\/\d+$/,
  'cluster-fork': /\/http\/\d+$/,
};

const layouts: Experiment = {
  seed: SEED,
  id: 'layouts',
  title: 'threaded against prefork plus the gevent process',
  source: SOURCE,
  claim:
    'A few days ago I reported that switching from a threaded based deployment to a forked one (with a gevent based ' +
    'process for long polling connections), actually spiked the concurrency issues we were witnessing in our DB. [...] ' +
    'After restoring the threaded deployment the concurrency issues dropped again.',
  async run(ctx) {
    const b = await baseline(ctx);
    const layouts = layoutsOf(ctx);
    const groups = layouts.map((topology) => group(b, { topology }));
    const { cases, invalid, ok } = backing(groups);
    const conflicts = groups.map(conflictsFigure);
    const per1k = groups.map(per1000Figure);
    const pools = groups.map((g) => exact(g, (c) => peakConnections(c, POLL_POOLS[g.id] ?? /$^/)));
    const { columns, figures } = table(groups, {
      'conflicts/min': (_, i) => conflicts[i] as Figure,
      'per 1,000 commits': (_, i) => per1k[i] as Figure,
      'failed attempts': (g) => exact(g, (c) => failedAttempts(c.totals)),
      commits: (g) => exact(g, commits),
      'poll pools, peak connections': (_, i) => pools[i] as Figure,
    });
    const [wt, dl, cf] = [0, 1, 2].map((i) => conflicts[i]) as [Figure, Figure, Figure | undefined];
    const [wtPool, dlPool, cfPool] = [0, 1, 2].map((i) => pools[i]) as [Figure, Figure, Figure | undefined];
    const direction = compare(dl, wt);
    let verdict: Verdict = 'no verdict';
    let summary = noVerdict(invalid);
    if (ok && direction !== null) {
      // A difference within the noise neither backs the claim nor refutes it: too few events to tell.
      verdict = direction === 'more' ? 'reproduced' : direction === 'noise' ? 'no verdict' : 'not reproduced';
      const times = (mean(wt) ?? 0) > 0 ? ` (${num((mean(dl) ?? 0) / (mean(wt) ?? 1))} x)` : '';
      summary =
        direction === 'noise'
          ? `${FORKED} ${show(dl)} conflicts/min against ${THREADED} ${show(wt)}: the difference is within the noise`
          : `${FORKED} ${show(dl)} conflicts/min against ${THREADED} ${show(wt)}${times}${cf ? `; ${PREFORK} ${show(cf)}` : ''}`;
    }
    const mechanism =
      `Concurrent writers of one presence row. At the busiest second of the window the pooled connections of the ` +
      `processes that run the polls' transactions peaked at ${show(wtPool)} in ${THREADED} (its request threads, ` +
      `each with a share of the one pool), ${show(dlPool)} in ${FORKED}'s bus process (one event loop with a pool ` +
      `of its own)${cfPool ? ` and ${show(cfPool)} in ${PREFORK} (every worker's pool)` : ''}. The more transactions run at once, the ` +
      `more polls of one user find the row stale in the same instant; at repeatable read the later writer fails with ` +
      `40001 and 8.0's retry runs the whole poll again. Per 1,000 commits: ${groups.map((g, i) => `${g.id} ${show(per1k[i] as Figure)}`).join(', ')}.`;
    return {
      ...findingHead(this),
      setup: `Layouts ${layouts.join(', ')}, one after another on fresh databases; ${profileSetup(b.run)}. Conflicts are failed attempts (40001, 40P01, 55P03, retries included) in the measured window. Rerun: ${rerun(b.run)}. Figures: ${spreadCaption(groups)}.`,
      columns,
      figures,
      chart: conflictsChart('Presence conflicts per minute, by layout (seed-000 load)', groups, conflicts),
      verdict,
      summary,
      mechanism,
      invalid,
      runs: runsOf(b),
      cases,
    };
  },
};

const ISOLATIONS = ['read-committed', 'repeatable-read', 'serializable'] as const;

const isolation: Experiment = {
  seed: SEED,
  id: 'isolation',
  title: 'the error under read committed, repeatable read and serializable',
  source: SOURCE,
  claim:
    'Our DB complained about being unable to serialize concurrent transactions. [...] Why does Odoo seems to be ' +
    'using a serializable isolation level? Or does the reported error message is misleading?',
  async run(ctx) {
    const b = await baseline(ctx);
    const others = await ctx.bench(
      'isolation',
      flags(ctx, { layouts: FORKED, isolation: 'read-committed,serializable' }),
    );
    const groups = ISOLATIONS.map((level) =>
      level === 'repeatable-read'
        ? { ...group(b, { topology: FORKED }), id: `${FORKED} isolation=repeatable-read` }
        : group(others, { isolation: level }),
    );
    const { cases, invalid, ok } = backing(groups);
    const rates = groups.map(serializationPer1000);
    const texts = groups.map(messages);
    const { columns, figures } = table(
      groups,
      {
        '40001 per 1,000 commits': (_, i) => rates[i] as Figure,
        '40001 attempts': (g) => exact(g, serializationFailures),
        commits: (g) => exact(g, commits),
        'SQLSTATE "PostgreSQL message" x attempts': (_, i) => messagesText(texts[i] ?? {}),
      },
      (g, i) => ISOLATIONS[i] ?? g.id,
    );
    const [rc, rr] = groups as [Group, Group, Group];
    const [rcText, rrText, szText] = texts as [
      Record<string, Record<string, number>>,
      Record<string, Record<string, number>>,
      Record<string, Record<string, number>>,
    ];
    const rr40001 = sumOver(rr, serializationFailures);
    const rrMessages = Object.keys(rrText['40001'] ?? {});
    let verdict: Verdict = 'no verdict';
    let summary = noVerdict(invalid);
    const reasons = [...invalid];
    if (ok && rr40001 === 0) {
      reasons.push(`${rr.id}: no 40001 in the window, so there is no message to read; measure longer`);
      summary = 'no 40001 at repeatable read in the window';
    } else if (ok) {
      const same = rrMessages.length === 1 && rrMessages[0] === RR_MESSAGE;
      verdict = same ? 'reproduced' : 'not reproduced';
      summary = same
        ? `repeatable read raised 40001 "${RR_MESSAGE}" ${rr40001} times; read committed ${sumOver(rc, serializationFailures)} 40001s`
        : `repeatable read's 40001s read ${rrMessages.map((m) => `"${m}"`).join(', ')}`;
    }
    const szOnly = Object.keys(szText['40001'] ?? {}).filter((m) => m !== RR_MESSAGE);
    const mechanism =
      `At read committed, ${sumOver(rc, commits)} commits and ${sumOver(rc, serializationFailures)} 40001s ` +
      `(${messagesText(rcText)}): PostgreSQL makes the second UPDATE of a row wait for the first and then applies it ` +
      `to the new version. At repeatable read, Odoo's level, the same write fails ${rr40001} times with ` +
      `${messagesText(rrText)}: the snapshot the transaction read from is older than the row's committed version, ` +
      `and PostgreSQL reports that as SQLSTATE 40001 serialization_failure, worded "could not serialize". ` +
      `Serializable gave ${messagesText(szText)}` +
      (szOnly.length > 0
        ? `, the extra text being serializable's own dependency check.`
        : ': the same text, since the conflict is the same concurrent update.') +
      ' So the message names the error class, not the isolation level.';
    return {
      ...findingHead(this),
      setup: `Layout ${FORKED} (prefork plus the bus process, the seed's deployment) at each isolation level (\`--isolation\`); ${profileSetup(b.run)}; repeatable read is the baseline run's case. Messages are PostgreSQL's own text of each failed attempt, counted by the app (\`busbench_tx_failure_messages_total\`, run.json's \`database.app.failure_messages\`). Rerun: ${rerun(others.run)} and ${rerun(b.run)}. Figures: ${spreadCaption(groups)}.`,
      columns,
      figures,
      chart: {
        title: `40001 (serialization_failure) per 1,000 commits, by isolation level (${FORKED})`,
        kind: 'bar',
        x: [...ISOLATIONS],
        series: [{ name: '40001 per 1,000 commits', values: rates.map(chartValue) }],
        unit: 'per 1,000 commits',
      },
      verdict,
      summary,
      mechanism,
      invalid: reasons,
      runs: runsOf(b, others),
      cases,
    };
  },
};

const busConnections: Experiment = {
  seed: SEED,
  id: 'bus-connections',
  title: "the bus process's connections against its pool",
  source: SOURCE,
  claim:
    'I thought the forked model would diminish the chance of collisions because (I thought) Odoo would use a single ' +
    'DB connection per worker process and another one for the gevent worker that would simply serialize all the chat ' +
    'related queries. [...] Do we actually keep a single process with a single DB connection when using the gevent process?',
  async run(ctx) {
    const b = await baseline(ctx);
    const g = group(b, { topology: FORKED });
    const { cases, invalid, ok } = backing([g]);
    const first = g.valid[0];
    const pool = first ? Number(first.server_config.poolSize) : null;
    const names = [
      ...new Set(g.valid.flatMap((c) => c.totals.database.connections_by_app.map((a) => a.application_name))),
    ];
    const byApp = (name: string, pick: 'peak' | 'mean') =>
      figure(
        g,
        (c) => c.totals.database.connections_by_app.find((a) => a.application_name === name)?.[pick] ?? 0,
        pick === 'peak' ? 0 : 2,
      );
    const columns = ['peak', 'mean', 'pool size'];
    const figures = names.map((name) => ({
      label: name,
      values: {
        peak: show(byApp(name, 'peak')),
        mean: show(byApp(name, 'mean')),
        'pool size': /\/listen\//.test(name) ? 'LISTEN (1)' : num(pool, 0),
      },
    }));
    const busPool = figure(g, (c) => peakConnections(c, /\/bus\/\d+$/), 0);
    const busAll = figure(g, (c) => peakConnections(c, /\/(bus|listen)\/0$/), 0);
    const parked = figure(
      g,
      (c) => c.totals.server.processes.find((p) => p.process === 'bus')?.peak_parked_polls ?? 0,
      0,
    );
    let verdict: Verdict = 'no verdict';
    let summary = noVerdict(invalid);
    const total = mean(busAll);
    if (ok && total !== null) {
      const single = total - noise(busAll) <= 1;
      verdict = single ? 'reproduced' : 'not reproduced';
      summary = `the bus process held ${show(busAll)} connections at once (${show(busPool)} of its pool of ${num(pool, 0)}, plus its LISTEN), not one`;
    }
    const mechanism =
      `The bus process serves every poll of the layout: ${show(parked)} polls parked in it at the peak, which hold no ` +
      `connection while they wait. Each poll borrows a pooled connection for its presence write and again for its ` +
      `fetch when it wakes, so at the busiest second ${show(busPool)} of its ${num(pool, 0)} pooled connections were in ` +
      `use at once (mean over the window: ${show(byApp(names.find((n) => /\/bus\/\d+$/.test(n)) ?? '', 'mean'))}); its ` +
      `LISTEN connection is one more. The chat queries of the one process run that many at a time, not one after ` +
      `another, and each forked worker holds a pool of its own too. Odoo's db_maxconn (64) is its pool per process.`;
    return {
      ...findingHead(this),
      setup: `Layout ${FORKED} (the bus process on one event loop beside ${String(first?.server_config.workers ?? 'its')} forked workers, behind one front); ${profileSetup(b.run)}; \`--pool-size ${num(pool, 0)}\`. Connections are PostgreSQL's \`pg_stat_activity\` by application_name, sampled each second of the window; this is the baseline run's case. Rerun: ${rerun(b.run)}. Figures: ${spreadCaption([g])}.`,
      columns,
      figures,
      chart: {
        title: `${FORKED}: database connections by application_name (pool size ${num(pool, 0)})`,
        kind: 'bar',
        x: names.map((n) => n.replace(/^busbench\/[^/]+\//, '')),
        series: [{ name: 'peak', values: names.map((n) => chartValue(byApp(n, 'peak'))) }],
        unit: 'connections',
      },
      verdict,
      summary,
      mechanism,
      invalid,
      runs: runsOf(b),
      cases,
    };
  },
};

const hiddenSlowdown: Experiment = {
  seed: SEED,
  id: 'hidden-slowdown',
  title: 'slowing hidden tabs',
  source: SOURCE,
  claimFrom:
    "the same blog's later post, as the kit's reference (odoo-model.md) gives it: the seed's text stops before the fix",
  claim:
    'Slowing polling in hidden tabs (4 s + a random 1-20 s between polls) cut the conflicts from about 1,000 a day to under 50.',
  async run(ctx) {
    const b = await baseline(ctx);
    const slowed = await ctx.bench(
      'slow-hidden',
      flags(ctx, { profile: 'seed-000-slow-hidden', layouts: FORKED }, windows(ctx).slowed),
    );
    const before = { ...group(b, { topology: FORKED }), id: `${FORKED}, hidden tabs poll` };
    const after = { ...group(slowed, { topology: FORKED }), id: `${FORKED}, hidden tabs slowed` };
    const groups = [before, after];
    const { cases, invalid, ok } = backing(groups);
    const conflicts = groups.map(conflictsFigure);
    const polls = groups.map((g) => figure(g, pollsPerSecond, 1));
    const per1k = groups.map(per1000Figure);
    const queued = groups.map((g) => exact(g, (c) => c.totals.client.queued_requests_peak));
    const perBrowser = groups.map((g) => exact(g, (c) => c.totals.client.http_connections_peak_per_browser));
    const { columns, figures } = table(groups, {
      'conflicts/min': (_, i) => conflicts[i] as Figure,
      'per 1,000 commits': (_, i) => per1k[i] as Figure,
      'polls/s': (_, i) => polls[i] as Figure,
      'connections per browser, peak': (_, i) => perBrowser[i] as Figure,
      'requests queued in browsers, peak': (_, i) => queued[i] as Figure,
    });
    const [cb, ca] = conflicts as [Figure, Figure];
    const ratio = (x: Figure, y: Figure) => {
      const mx = mean(x);
      const my = mean(y);
      return mx === null || my === null || my === 0 ? null : mx / my;
    };
    const r = ratio(cb, ca);
    const hi = (() => {
      const low = (mean(ca) ?? 0) - noise(ca);
      return low > 0 ? ((mean(cb) ?? 0) + noise(cb)) / low : Number.POSITIVE_INFINITY;
    })();
    const lo = ((mean(cb) ?? 0) - noise(cb)) / ((mean(ca) ?? 0) + noise(ca) || 1);
    let verdict: Verdict = 'no verdict';
    let summary = noVerdict(invalid);
    const direction = compare(cb, ca);
    if (ok && direction !== null) {
      const range = `${num(Math.max(0, lo))}-${Number.isFinite(hi) ? num(hi) : 'unbounded'} x given the noise`;
      const size = r === null ? `no conflict left (${range})` : `${num(r)} x (${range})`;
      if (direction !== 'more') {
        verdict = direction === 'noise' ? 'no verdict' : 'not reproduced';
        const how = direction === 'noise' ? 'within the noise' : 'more conflicts, not fewer';
        summary = `conflicts/min ${show(cb)} with hidden tabs polling, ${show(ca)} slowed: ${how}`;
      } else {
        verdict = hi >= SEED_RATIO ? 'reproduced' : 'reproduced with a different size';
        summary = `conflicts/min fell from ${show(cb)} to ${show(ca)}: ${size}, against the seed's ${SEED_RATIO} x`;
      }
    }
    const [pb, pa] = polls as [Figure, Figure];
    const [kb, ka] = per1k as [Figure, Figure];
    const visible = Number((slowed.run.profile as Record<string, unknown>).windowsPerBrowser);
    const tabs = Number((slowed.run.profile as Record<string, unknown>).tabsPerBrowser);
    const perPoll = compare(kb, ka);
    const mechanism =
      `Every poll runs one presence transaction, and conflicts per 1,000 of them were ${show(kb)} before and ` +
      `${show(ka)} after (${perPoll === 'noise' ? 'the same within the noise' : perPoll === null ? 'n/a' : 'not the same'}): ` +
      `the slowdown cuts conflicts by cutting polls, which fell from ${show(pb)} to ${show(pa)} a second ` +
      `(${num(ratio(pb, pa))} x; conflicts ${num(r)} x). Polls fall far less than the hidden tabs' share suggests because the ` +
      `browser's 6 connections already capped polling before the fix: ${tabs} tabs shared them (peak ` +
      `${show(perBrowser[0] as Figure)} connections per browser, ${show(queued[0] as Figure)} requests queued in the ` +
      `browsers at the peak), so most hidden tabs' polls were waiting in the browser, not writing; and the ${visible} ` +
      `visible tabs of each browser (one per window) keep polling at the full rate after it (${show(queued[1] as Figure)} ` +
      `queued at the peak). The kit shortens the poll timeout to 2 s (Odoo: 50 s) to fit the study's time, while a ` +
      `hidden tab's pause keeps its real 5-24 s.`;
    return {
      ...findingHead(this),
      setup: `Layout ${FORKED}; before: the baseline run's case, ${profileSetup(b.run)}; after: ${profileSetup(slowed.run)} (a longer window, as a hidden tab sleeps up to 24 s). Rates are per minute of each window. Rerun: ${rerun(b.run)} and ${rerun(slowed.run)}. Figures: ${spreadCaption(groups)}.`,
      columns,
      figures,
      chart: conflictsChart(
        `Presence conflicts per minute, hidden tabs polling against slowed (${FORKED})`,
        groups,
        conflicts,
      ),
      verdict,
      summary,
      mechanism,
      invalid,
      runs: runsOf(b, slowed),
      cases,
    };
  },
};

const leaderTab: Experiment = {
  seed: SEED,
  id: 'leader-tab',
  title: 'one poll per browser against every tab polling',
  source: SOURCE,
  claim:
    'our users open many tabs to the same Odoo instance. When the chat is active this means an open connection for ' +
    'each tab and, since a chat is interactive in nature, all but one of these connections are not actually required ' +
    '[...] This is only valid cause all those polling connections are updating the same rows in the DB.',
  async run(ctx) {
    const b = await baseline(ctx);
    const leader = await ctx.bench('leader', flags(ctx, { layouts: FORKED, 'tab-mode': 'leader' }));
    const every = { ...group(b, { topology: FORKED }), id: `${FORKED}, every tab polls (Odoo 8.0)` };
    const one = { ...group(leader, { topology: FORKED }), id: `${FORKED}, leader tab polls (Odoo 9-15)` };
    const groups = [every, one];
    const { cases, invalid, ok } = backing(groups);
    const conflicts = groups.map(conflictsFigure);
    const perBrowser = groups.map((g) => exact(g, (c) => c.totals.client.http_connections_peak_per_browser));
    const http = groups.map((g) => exact(g, (c) => c.totals.client.http_connections_peak));
    const db = groups.map((g) => exact(g, (c) => c.totals.database.peak_connections));
    const polls = groups.map((g) => figure(g, pollsPerSecond, 1));
    const { columns, figures } = table(groups, {
      'conflicts/min': (_, i) => conflicts[i] as Figure,
      'per 1,000 commits': (g) => per1000Figure(g),
      'polls/s': (_, i) => polls[i] as Figure,
      'HTTP connections, peak': (_, i) => http[i] as Figure,
      'per browser, peak': (_, i) => perBrowser[i] as Figure,
      'DB connections, peak': (_, i) => db[i] as Figure,
    });
    const [ce, cl] = conflicts as [Figure, Figure];
    const [be, bl] = perBrowser as [Figure, Figure];
    let verdict: Verdict = 'no verdict';
    let summary = noVerdict(invalid);
    const fewerConflicts = compare(ce, cl);
    const fewerConnections = compare(be, bl);
    if (ok && fewerConflicts !== null && fewerConnections !== null) {
      const both = [fewerConflicts, fewerConnections];
      verdict = both.every((d) => d === 'more')
        ? 'reproduced'
        : both.includes('noise') && !both.includes('less')
          ? 'no verdict'
          : 'not reproduced';
      summary =
        `every tab polling: ${show(ce)} conflicts/min and ${show(be)} connections per browser; ` +
        `one leader tab: ${show(cl)} and ${show(bl)}`;
    }
    const mechanism =
      `With one leader tab per browser polling for the other 19, the server saw ${show(polls[1] as Figure)} polls a ` +
      `second against ${show(polls[0] as Figure)}, each browser held at most ${show(bl)} connections against ` +
      `${show(be)} (the browser's cap of 6 per origin), and with one browser per user each presence row had one ` +
      `poll writing it at a time: ${show(cl)} conflicts a minute against ${show(ce)}. The database side changes less ` +
      `(${show(db[1] as Figure)} connections at peak against ${show(db[0] as Figure)}): parked polls hold none, and the ` +
      `layout's pools are sized per process, not per tab.`;
    return {
      ...findingHead(this),
      setup: `Layout ${FORKED}; every tab: the baseline run's case, ${profileSetup(b.run)}; leader: the same with \`--tab-mode leader\` (one tab per browser polls and hands what it gets to the others, as Odoo 9-15 elect a master tab). Rerun: ${rerun(b.run)} and ${rerun(leader.run)}. Figures: ${spreadCaption(groups)}.`,
      columns,
      figures,
      chart: conflictsChart(
        `Presence conflicts per minute, every tab polling against one leader tab (${FORKED})`,
        groups,
        conflicts,
      ),
      verdict,
      summary,
      mechanism,
      invalid,
      runs: runsOf(b, leader),
      cases,
    };
  },
};

export const SEED_000: readonly Experiment[] = [layouts, isolation, busConnections, hiddenSlowdown, leaderTab];
