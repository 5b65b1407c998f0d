// `busbench capacity`: how many waiting clients one process holds, printed, never asserted.
// For each tab count x transport x dispatch mode, single-process on a fresh database:
//  - reach: every tab parks a long poll or holds a subscribed websocket, arriving over the
//    ramp with a bounded number logging in at once; the time that took, the database
//    connections meanwhile (against pool + LISTEN), and the server's memory per connection;
//  - broadcast: one post to the channel every tab is in, timed from its due time until each
//    tab has it, with the fetch queries per wake-up and where the time went (the server's
//    fan-out against the runner's receiving, both in CPU);
//  - the runner's own cost per tab.
// What the machine allows (open files per process, ports per source address) is read first:
// a count that cannot fit is cut to what fits, and the figures say which limit cut it.
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { round, total } from '../../loadtests/lib/numbers.js';
import { PROFILES, type Profile } from '../../loadtests/lib/profiles.js';
import { type PromSample, sum } from '../../loadtests/lib/prometheus-text.js';
import type { BusTransport } from '../../loadtests/lib/ws-tab.js';
import type { Config, DispatchMode } from '../lib/server-options.js';
import { Lab, type RunningCase } from './lifecycle.js';
import { busyPercent, machineCpuTimes } from './machine-cpu.js';
import { Progress } from './progress.js';
import type { Percentiles } from './results.js';
import { withSimulatedLoad } from './simulated-load.js';
import {
  ephemeralPorts,
  type OpenFileLimit,
  openFileLimit,
  peersOf,
  planSources,
  type SourcePlan,
  somaxconn,
} from './socket-budget.js';

export interface CapacityOptions {
  /** Tab counts to measure, each a run per transport and dispatch mode. */
  tabs: number[];
  transports: BusTransport[];
  dispatches: DispatchMode[];
  /** Seconds over which the browsers arrive. */
  ramp: number;
  /** Browsers logging in at once, at most. */
  concurrency: number;
  /** Local ports the runner uses per source address before the next; 0: the port range less a margin. */
  portsPerAddress: number;
}

export interface BroadcastFigures {
  expected: number;
  delivered: number;
  duplicated: number;
  lost: number;
  /** From the post's due time until each tab applied it. */
  latency_ms: Percentiles;
  /** The first tab's latency: what the post and the wake-up cost before any fan-out. */
  first_ms: number | null;
  /** The server, shared dispatch: from the shared fetch's rows to the last answer written to its socket. */
  server_fanout_ms: number | null;
  /** The server's CPU over that fan-out: its cost, apart from what else the machine ran. */
  server_fanout_cpu_ms: number | null;
  /** CPU the server process used from the post until the last tab had it (re-polls included). */
  server_cpu_ms: number;
  /** CPU the runner used meanwhile (receiving, and for long polls sending the next poll). */
  runner_cpu_ms: number;
  /** The runner's longest event-loop stall meanwhile. */
  runner_loop_delay_max_ms: number;
  fetch_queries_per_wakeup: number | null;
  /** Polls the pool could not serve in time (per-waiter's herd), answered 503 E_POOL_EXHAUSTED. */
  pool_exhausted_answers: number;
  /** From the post until the runner saw the last tab have it (or gave up), to the next 100 ms check. */
  window_ms: number;
  /** How busy the whole machine's CPUs were over that window (every process); null off Linux. */
  machine_cpu_busy_percent: number | null;
  /** Why p99 missed BROADCAST_P99_GOAL_MS, from the figures above; null when it met it. */
  limited_by: string | null;
}

export interface CapacityFigures {
  transport: BusTransport;
  dispatch: DispatchMode;
  tabs_asked: number;
  /** Tabs started: tabs_asked, or what fits the open-file limit. */
  tabs: number;
  /** Tabs that opened (logged in, listed their channels). */
  tabs_opened: number;
  /** Parked polls or subscribed websockets when the reach ended. */
  reached: number;
  seconds_to_reach: number | null;
  /** Why fewer than tabs_asked were reached; null when all were. */
  limited_by: string | null;
  /** Established connections to the server by source address, as the kernel lists them once reached. */
  server_connections_by_source: Record<string, number>;
  db_connections_peak: number;
  db_connections_allowed: number;
  server_rss_before_mb: number;
  server_rss_reached_mb: number;
  /** RSS growth of the server process per connection reached: an upper bound (sessions, allocator slack). */
  server_kb_per_connection: number | null;
  server_heap_kb_per_connection: number | null;
  /** Only for the first case: later ones start with the earlier case's freed memory in the RSS. */
  runner_rss_per_tab_kb: number | null;
  runner_heap_per_tab_kb: number | null;
  broadcast: BroadcastFigures;
}

export interface CapacityRun {
  machine: string;
  limits: {
    open_files: OpenFileLimit | null;
    ephemeral_ports: number | null;
    somaxconn: number | null;
    /** Node's default listen backlog, which the layouts use. */
    listen_backlog: number;
  };
  cases: CapacityFigures[];
  failed: string[];
}

const TABS_PER_USER = 10;
/** File descriptors a process keeps for itself besides the tabs' connections (pools, pipes, PostgreSQL, metrics). */
const RESERVED_FDS = 300;
/** Linux's default ip_local_port_range (32768-60999), where the kernel's is unreadable. */
const LINUX_DEFAULT_PORTS = 28_232;
/** Ports a source address keeps free for the posts, the sampler and connections still closing. */
const PORT_MARGIN = 1000;
/** A websocket browser's HTTP connection (login, channels) closes this long after its last request. */
const IDLE_HTTP_MS = 1000;
const NODE_LISTEN_BACKLOG = 511;
const BROADCAST_WAIT_MS = 60_000;
/** The issue's goal for a broadcast under shared dispatch: every waiter has it within 1 s of its due time, at p99. */
export const BROADCAST_P99_GOAL_MS = 1000;
/** A machine (or the runner's thread) this busy over the broadcast had no CPU to spare: it was the limit. */
const SATURATED_PERCENT = 90;
/** Past the ramp, how long the tabs have to reach; a reach that stops moving for STALL_MS ends early. */
const REACH_GRACE_MS = 240_000;
const STALL_MS = 30_000;

export async function runCapacity(options: CapacityOptions, server: Config): Promise<CapacityRun> {
  const limits = {
    open_files: openFileLimit(),
    ephemeral_ports: ephemeralPorts()?.count ?? null,
    somaxconn: somaxconn(),
    listen_backlog: NODE_LISTEN_BACKLOG,
  };
  const portsPerAddress =
    options.portsPerAddress || Math.max(1, (limits.ephemeral_ports ?? LINUX_DEFAULT_PORTS) - PORT_MARGIN);
  // No poll times out and no socket sends presence while the case runs: the waiters stay idle.
  const idleSeconds = options.ramp + (REACH_GRACE_MS + BROADCAST_WAIT_MS) / 1000 + 120;
  const plans = options.tabs.flatMap((asked) =>
    options.transports.flatMap((transport) =>
      options.dispatches.map((dispatch) => {
        const fit = fitTabs(asked, transport, limits.open_files, options.concurrency);
        const users = Math.max(1, Math.ceil(fit.tabs / TABS_PER_USER));
        const profile: Profile = {
          ...(PROFILES.tabs as Profile),
          name: 'capacity',
          users,
          browsersPerUser: Math.ceil(fit.tabs / users),
          tabsPerBrowser: 1,
          rate: 0,
          channels: 2,
          channelsPerUser: 0,
          pollTimeout: idleSeconds,
          presenceInterval: idleSeconds,
        };
        const browsers = profile.users * profile.browsersPerUser;
        // A websocket browser holds its socket and, while it logs in, an HTTP connection.
        const sources = planSources(browsers, transport === 'websocket' ? 2 : 1, portsPerAddress);
        const config: Config = {
          ...server,
          topology: 'single-process',
          port: 0,
          users,
          channels: profile.channels,
          channelsPerUser: profile.channelsPerUser,
          pollTimeout: profile.pollTimeout,
          maxParked: Math.max(server.maxParked, browsers + 100),
          dispatch,
        };
        return { asked, transport, dispatch, fit, profile, sources, config };
      }),
    ),
  );
  const lab = await Lab.open(
    server,
    plans.map((p) => p.config),
    new Progress(),
  );
  try {
    const { results, failed } = await lab.runAll(
      plans.map((plan, i) => ({
        name: `capacity ${plan.transport} dispatch=${plan.dispatch} tabs=${plan.fit.tabs}`,
        config: plan.config,
        measure: (running) => measure(running, plan, options, i === 0),
      })),
    );
    return { machine: machine(), limits, cases: results, failed };
  } finally {
    await lab.close();
  }
}

/** The tabs that fit one process's open files: each is a connection in the runner and one in the server. */
function fitTabs(
  asked: number,
  transport: BusTransport,
  limit: OpenFileLimit | null,
  concurrency: number,
): { tabs: number; limitedBy: string | null } {
  if (!limit || !Number.isFinite(limit.soft)) return { tabs: asked, limitedBy: null };
  // Websocket browsers still logging in, or within IDLE_HTTP_MS of it, hold an HTTP connection too.
  const reserve = RESERVED_FDS + (transport === 'websocket' ? 2 * concurrency : concurrency);
  const fits = Math.max(1, limit.soft - reserve);
  if (asked <= fits) return { tabs: asked, limitedBy: null };
  const raise =
    limit.soft < limit.hard
      ? `run under \`ulimit -n ${limit.hard}\` (npm run bench:capacity does)`
      : limit.raisable
        ? `raise the hard limit (ulimit -Hn) first`
        : 'the hard limit cannot be raised from here (no CAP_SYS_RESOURCE): raise LimitNOFILE / ulimit -Hn for the session';
  return {
    tabs: fits,
    limitedBy:
      `open files: RLIMIT_NOFILE ${limit.soft} (hard ${limit.hard}) per process, and the runner and single-process each ` +
      `hold one descriptor per tab, so at most ${fits} of ${asked} tabs fit (${reserve} kept for pools, pipes and ` +
      `logins in flight); ${raise}`,
  };
}

interface Plan {
  asked: number;
  transport: BusTransport;
  dispatch: DispatchMode;
  fit: { tabs: number; limitedBy: string | null };
  profile: Profile;
  sources: SourcePlan;
}

function measure(running: RunningCase, plan: Plan, options: CapacityOptions, first: boolean): Promise<CapacityFigures> {
  const { transport, dispatch, profile, sources } = plan;
  const { poolSize } = running.config;
  const log = (line: string) => running.progress.log(`[capacity ${transport} ${dispatch}] ${line}`);
  const spread = sources.addresses.length > 1 ? sources : undefined;
  const target = {
    transport,
    maxOpening: options.concurrency,
    httpKeepAliveMs: transport === 'websocket' ? IDLE_HTTP_MS : undefined,
    sources: spread,
  };
  return withSimulatedLoad(running, profile, target, async ({ runner, sampler, enter, finish }) => {
    const browsers = profile.users * profile.browsersPerUser;
    const port = Number(new URL(running.layout.url).port);
    const promStart = await sampler.scrape();
    global.gc?.();
    const before = process.memoryUsage();
    log(
      `opening ${browsers} tabs over ${options.ramp} s, at most ${options.concurrency} logging in at once, from ` +
        `${sources.addresses.length} source address${sources.addresses.length > 1 ? 'es' : ''} ` +
        `(${sources.addresses[0]}${sources.addresses.length > 1 ? `-${sources.addresses.at(-1)}` : ''}, up to ` +
        `${sources.browsersPerAddress} browsers each)`,
    );
    if (plan.fit.limitedBy) log(`cut to ${plan.fit.tabs} tabs: ${plan.fit.limitedBy}`);
    const started = Date.now();
    // Measured from the start: the 503s of a pool overrun come while every tab polls first.
    runner.setPhase('measure');
    const ramping = runner.start(options.ramp * 1000);
    const reachedNow = (prom: PromSample[]) =>
      transport === 'longpoll'
        ? sum(prom, 'busbench_bus_parked_polls')
        : Math.min(sum(prom, 'busbench_ws_open_sockets'), sum(prom, 'busbench_ws_subscriptions_total'));
    let reached = 0;
    let best = { reached: 0, at: Date.now() };
    let secondsToReach: number | null = null;
    const deadline = started + options.ramp * 1000 + REACH_GRACE_MS;
    let ticks = 0;
    while (Date.now() < deadline) {
      await sleep(500);
      reached = reachedNow(await sampler.scrape());
      if (reached > best.reached) best = { reached, at: Date.now() };
      if (++ticks % 10 === 0) log(`${reached} ${transport === 'longpoll' ? 'parked polls' : 'subscribed sockets'}`);
      if (reached >= browsers) {
        secondsToReach = round((Date.now() - started) / 1000);
        break;
      }
      if (Date.now() - best.at > STALL_MS) break;
    }
    await Promise.race([ramping, sleep(1000)]);
    // The websocket browsers' login connections close after IDLE_HTTP_MS: memory is read without them.
    for (let i = 0; i < 20 && transport === 'websocket'; i++) {
      if (sum(await sampler.scrape(), 'busbench_http_open_sockets') <= options.concurrency) break;
      await sleep(500);
    }
    await sleep(2000);
    const promReached = await sampler.scrape();
    reached = reachedNow(promReached);
    global.gc?.();
    const after = process.memoryUsage();
    const bySource = Object.fromEntries([...peersOf(port).entries()].sort());
    const tabs = runner.tabs;
    const opened = runner.openFailures;
    const limitedBy =
      reached >= plan.asked
        ? null
        : (plan.fit.limitedBy ??
          (opened.count > 0
            ? `${opened.count} browsers could not open (first: ${opened.first})`
            : secondsToReach === null
              ? `${reached} of ${browsers} reached in ${round((Date.now() - started) / 1000)} s (time bound)`
              : null));
    const rssGrowth =
      sum(promReached, 'process_resident_memory_bytes') - sum(promStart, 'process_resident_memory_bytes');
    const heapGrowth = sum(promReached, 'nodejs_heap_size_used_bytes') - sum(promStart, 'nodejs_heap_size_used_bytes');
    log(
      `${reached} reached${secondsToReach === null ? '' : ` in ${secondsToReach} s`}; server RSS +${round(rssGrowth / 2 ** 20)} MB; ` +
        `connections by source ${JSON.stringify(bySource)}; broadcasting one message to every tab`,
    );

    const promBefore = await sampler.scrape();
    const cpuBefore = process.cpuUsage();
    const machineBefore = machineCpuTimes();
    const windowStart = performance.now();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const earliest = { ms: Number.POSITIVE_INFINITY };
    runner.observe({
      request() {},
      poll() {},
      delivered: (ms) => {
        earliest.ms = Math.min(earliest.ms, ms);
      },
      duplicate() {},
      postFailed() {},
    });
    const posting = runner.postNow();
    for (
      let i = 0;
      i < BROADCAST_WAIT_MS / 100 && (runner.deliveries().pending > 0 || runner.deliveries().posts === 0);
      i++
    )
      await sleep(100);
    const cpu = process.cpuUsage(cpuBefore);
    const machineBusy = busyPercent(machineBefore, machineCpuTimes());
    const windowMs = performance.now() - windowStart;
    loop.disable();
    const promDelivered = await sampler.scrape();
    await posting;
    // The re-polls that follow the wake-up land before the 503s are counted.
    await sleep(1000);
    const promAfter = await sampler.scrape();
    await enter('drain');
    const delta = (a: PromSample[], b: PromSample[], name: string, match: Record<string, string> = {}) =>
      sum(b, name, match) - sum(a, name, match);
    const totals = runner.totals();
    const connections = Math.max(
      ...sampler.timeseries().map((s) => s.db_connections),
      total(Object.values(await sampler.connections())),
    );
    await finish();
    const wakeups = delta(promBefore, promAfter, 'busbench_bus_wakeups_total');
    const fanouts = delta(promBefore, promDelivered, 'busbench_bus_fanout_seconds_count');
    const perConnection = (bytes: number) => (reached > 0 ? round(bytes / 1024 / reached) : null);
    const fetchQueries = delta(promBefore, promAfter, 'busbench_bus_fetch_queries_total', { reason: 'wakeup' });
    const broadcast: Omit<BroadcastFigures, 'limited_by'> = {
      expected: totals.delivery.expected,
      delivered: totals.delivery.delivered,
      duplicated: totals.delivery.duplicated,
      lost: totals.delivery.lost,
      latency_ms: totals.delivery.latency_ms,
      first_ms: Number.isFinite(earliest.ms) ? round(earliest.ms) : null,
      server_fanout_ms:
        fanouts > 0
          ? round((delta(promBefore, promDelivered, 'busbench_bus_fanout_seconds_sum') / fanouts) * 1000)
          : null,
      server_fanout_cpu_ms:
        fanouts > 0
          ? round((delta(promBefore, promDelivered, 'busbench_bus_fanout_cpu_seconds_total') / fanouts) * 1000)
          : null,
      server_cpu_ms: round(delta(promBefore, promDelivered, 'process_cpu_seconds_total') * 1000),
      runner_cpu_ms: round((cpu.user + cpu.system) / 1000),
      runner_loop_delay_max_ms: round(loop.max / 1e6),
      fetch_queries_per_wakeup: wakeups > 0 ? round(fetchQueries / wakeups) : null,
      pool_exhausted_answers: totals.client.requests['bus.poll']?.['503'] ?? 0,
      window_ms: round(windowMs),
      machine_cpu_busy_percent: machineBusy === null ? null : round(machineBusy),
    };
    return {
      transport,
      dispatch,
      tabs_asked: plan.asked,
      tabs: browsers,
      tabs_opened: tabs,
      reached,
      seconds_to_reach: secondsToReach,
      limited_by: limitedBy,
      server_connections_by_source: bySource,
      db_connections_peak: connections,
      db_connections_allowed: poolSize + 1,
      server_rss_before_mb: round(sum(promStart, 'process_resident_memory_bytes') / 2 ** 20),
      server_rss_reached_mb: round(sum(promReached, 'process_resident_memory_bytes') / 2 ** 20),
      server_kb_per_connection: perConnection(rssGrowth),
      server_heap_kb_per_connection: perConnection(heapGrowth),
      runner_rss_per_tab_kb: first && tabs > 0 ? round((after.rss - before.rss) / 1024 / tabs) : null,
      runner_heap_per_tab_kb: tabs > 0 ? round((after.heapUsed - before.heapUsed) / 1024 / tabs) : null,
      broadcast: {
        ...broadcast,
        limited_by: broadcastLimit(broadcast, transport, os.availableParallelism(), poolSize),
      },
    };
  });
}

/**
 * What kept a broadcast's p99 past the goal, said from its own figures: the runner's one thread
 * (busy the whole window: the answers waited for it), the machine's cores (every process wanted
 * one), or per-waiter dispatch's herd of fetch queries on the pool. The runner's CPU alone is no
 * bound: it also sends the next polls, and a quiet machine met the goal at 1.2 s of it.
 */
export function broadcastLimit(
  b: Omit<BroadcastFigures, 'limited_by'>,
  transport: BusTransport,
  cores: number,
  poolSize: number,
): string | null {
  const p99 = b.latency_ms.p99;
  if (p99 !== null && p99 <= BROADCAST_P99_GOAL_MS && b.delivered === b.expected) return null;
  const limits: string[] = [];
  if (b.delivered < b.expected)
    limits.push(`${b.expected - b.delivered} tabs had not got it when the ${BROADCAST_WAIT_MS / 1000} s wait ended`);
  if ((b.fetch_queries_per_wakeup ?? 0) > 1)
    limits.push(
      `per-waiter dispatch: ${b.fetch_queries_per_wakeup} fetch queries for one post through a pool of ${poolSize}` +
        `${b.pool_exhausted_answers > 0 ? `, ${b.pool_exhausted_answers} polls answered 503 E_POOL_EXHAUSTED` : ''}`,
    );
  const runnerBusy = b.window_ms > 0 ? Math.round((100 * b.runner_cpu_ms) / b.window_ms) : null;
  if (runnerBusy !== null && runnerBusy >= SATURATED_PERCENT) {
    limits.push(
      `the runner: its process used ${b.runner_cpu_ms} ms of CPU over the ${b.window_ms} ms window (${runnerBusy} %), ` +
        `receiving the answers${transport === 'longpoll' ? ' and sending the next polls' : ''}; one thread plays ` +
        'every tab, so it could take them no faster',
    );
  }
  const busy = b.machine_cpu_busy_percent;
  if (busy !== null && busy >= SATURATED_PERCENT) {
    const window = b.window_ms * cores;
    const other = Math.max(0, round((busy / 100) * window - b.server_cpu_ms - b.runner_cpu_ms));
    limits.push(
      `CPU: the machine's ${cores} cores were ${busy} % busy over the ${b.window_ms} ms window (server ` +
        `${b.server_cpu_ms} ms, runner ${b.runner_cpu_ms} ms, PostgreSQL and everything else ${other} ms of CPU)`,
    );
  }
  if (limits.length > 0) return limits.join('; ');
  return (
    `no limit found in the figures: runner ${b.runner_cpu_ms} ms and server ${b.server_cpu_ms} ms of CPU, machine ` +
    `${busy === null ? 'n/a' : `${busy} %`} busy over ${b.window_ms} ms`
  );
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

const n = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? 'n/a' : `${v}${unit}`);

export function formatCapacity(run: CapacityRun): string {
  const { open_files: files } = run.limits;
  const lines = [
    `machine: ${run.machine}`,
    `limits: open files ${files ? `${files.soft} (hard ${files.hard})` : 'n/a'} per process; ` +
      `${n(run.limits.ephemeral_ports)} ephemeral ports per source address; listen backlog ${run.limits.listen_backlog} ` +
      `(somaxconn ${n(run.limits.somaxconn)})`,
  ];
  for (const f of run.cases) {
    const b = f.broadcast;
    const sources = Object.entries(f.server_connections_by_source);
    lines.push(
      `${f.transport} ${f.dispatch}, ${f.tabs_asked} tabs asked: ${f.reached}/${f.tabs} ` +
        `${f.transport === 'longpoll' ? 'polls parked' : 'websockets subscribed'}` +
        `${f.seconds_to_reach === null ? '' : ` in ${f.seconds_to_reach} s`}` +
        `${f.limited_by ? ` (limited by ${f.limited_by})` : ''}`,
      `  connections from ${sources.length} source address${sources.length === 1 ? '' : 'es'}: ` +
        `${sources.map(([a, c]) => `${a} ${c}`).join(', ')}`,
      `  DB connections peak ${f.db_connections_peak} (pool + LISTEN = ${f.db_connections_allowed}); server RSS ` +
        `${f.server_rss_before_mb} -> ${f.server_rss_reached_mb} MB, ${n(f.server_kb_per_connection, ' KB')} per connection ` +
        `(JS heap ${n(f.server_heap_kb_per_connection, ' KB')})`,
      `  broadcast: ${b.delivered}/${b.expected} tabs, ${b.duplicated} duplicated, ${b.lost} lost; from due: first ` +
        `${n(b.first_ms, ' ms')}, p50 ${n(b.latency_ms.p50, ' ms')}, p99 ${n(b.latency_ms.p99, ' ms')}, ` +
        `max ${n(b.latency_ms.max, ' ms')}; ${n(b.fetch_queries_per_wakeup)} fetch queries per wake-up; ` +
        `${b.pool_exhausted_answers} polls answered 503`,
      `  where it went: server fan-out ${n(b.server_fanout_ms, ' ms')} (CPU ${n(b.server_fanout_cpu_ms, ' ms')}), server CPU ${b.server_cpu_ms} ms, runner CPU ` +
        `${b.runner_cpu_ms} ms${b.delivered > 0 ? `, ${round((b.runner_cpu_ms * 1000) / b.delivered)} µs per tab reached` : ''} ` +
        `(event loop stalled up to ${b.runner_loop_delay_max_ms} ms); machine CPU ${n(b.machine_cpu_busy_percent, ' %')} ` +
        `busy over the ${b.window_ms} ms window`,
      `  goal (p99 within ${BROADCAST_P99_GOAL_MS} ms of due${f.dispatch === 'shared' ? '' : ', set for shared dispatch'}): ` +
        `${b.limited_by === null ? 'met' : `not met, limited by ${b.limited_by}`}`,
      `  runner per tab: ${f.runner_rss_per_tab_kb === null ? '' : `${f.runner_rss_per_tab_kb} KB RSS, `}` +
        `${n(f.runner_heap_per_tab_kb, ' KB')} heap`,
    );
  }
  for (const failure of run.failed) lines.push(`FAILED ${failure}`);
  return lines.join('\n');
}
