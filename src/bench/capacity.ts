// `busbench capacity`: the two benchmarks about scale, printed, never asserted.
//  - Runner efficiency: what one simulated long-polling tab costs the load generator (RSS and
//    heap per tab; CPU per request while every tab is answered and polls again).
//  - Capacity: single-process holding N parked polls, its database connections meanwhile,
//    and one broadcast to all of them: fan-out time and fetch queries per wake-up, for each
//    dispatch mode.
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { round, total } from '../../loadtests/lib/numbers.js';
import { PROFILES, type Profile } from '../../loadtests/lib/profiles.js';
import { sum } from '../../loadtests/lib/prometheus-text.js';
import type { Config, DispatchMode } from '../lib/server-options.js';
import { Lab, type RunningCase } from './lifecycle.js';
import { Progress } from './progress.js';
import type { Percentiles } from './results.js';
import { withSimulatedLoad } from './simulated-load.js';

export interface CapacityOptions {
  tabs: number;
  dispatches: DispatchMode[];
  /** Seconds to spread the browsers' arrival over. */
  ramp: number;
}

export interface CapacityFigures {
  dispatch: DispatchMode;
  tabs: number;
  parked: number;
  seconds_to_park: number;
  /** Only for the first mode measured: later ones start with the earlier run's freed memory in the RSS. */
  runner_rss_per_tab_kb: number | null;
  runner_heap_per_tab_kb: number;
  runner_cpu_us_per_request: number;
  db_connections_peak: number;
  db_connections_allowed: number;
  fanout_ms: Percentiles;
  fanout_delivered: number;
  fetch_queries_per_wakeup: number;
  pool_exhausted_answers: number;
}

const TABS_PER_USER = 10;

export async function runCapacity(options: CapacityOptions, server: Config): Promise<CapacityFigures[]> {
  const users = Math.max(1, Math.ceil(options.tabs / TABS_PER_USER));
  const profile: Profile = {
    ...(PROFILES.tabs as Profile),
    name: 'capacity',
    users,
    browsersPerUser: Math.ceil(options.tabs / users),
    tabsPerBrowser: 1,
    rate: 0,
    channels: 2,
    channelsPerUser: 0,
    pollTimeout: 50,
  };
  const configs = options.dispatches.map(
    (dispatch): Config => ({
      ...server,
      topology: 'single-process',
      port: 0,
      users,
      channels: profile.channels,
      channelsPerUser: profile.channelsPerUser,
      pollTimeout: profile.pollTimeout,
      maxParked: Math.max(server.maxParked, options.tabs + 100),
      dispatch,
    }),
  );
  const lab = await Lab.open(server, configs, new Progress());
  try {
    const { results, failed } = await lab.runAll(
      configs.map((config, i) => ({
        name: `capacity dispatch=${config.dispatch}`,
        config,
        measure: (running) => measure(running, profile, options, i === 0),
      })),
    );
    if (failed.length > 0) throw new Error(`capacity failed:\n${failed.join('\n')}`);
    return results;
  } finally {
    await lab.close();
  }
}

function measure(
  running: RunningCase,
  profile: Profile,
  options: CapacityOptions,
  first: boolean,
): Promise<CapacityFigures> {
  const { dispatch, poolSize } = running.config;
  const log = (line: string) => running.progress.log(`[capacity ${dispatch}] ${line}`);
  return withSimulatedLoad(running, profile, { transport: 'longpoll' }, async ({ runner, sampler, enter, finish }) => {
    global.gc?.();
    const before = process.memoryUsage();
    const started = Date.now();
    log(`opening ${options.tabs} tabs over ${options.ramp} s`);
    // Measured from the start: the 503s of a pool overrun come while every tab polls first.
    runner.setPhase('measure');
    await runner.start(options.ramp * 1000);
    let parked = 0;
    for (let i = 0; i < 240 && parked < options.tabs; i++) {
      await sleep(500);
      parked = sum(await sampler.scrape(), 'busbench_bus_parked_polls');
      if (i % 10 === 0) log(`${parked} parked polls`);
    }
    const secondsToPark = (Date.now() - started) / 1000;
    global.gc?.();
    const after = process.memoryUsage();
    const tabs = runner.tabs;
    log(`${parked} parked after ${secondsToPark.toFixed(1)} s; broadcasting one message to every tab`);
    await sampler.setPhase('measure');
    const promBefore = await sampler.scrape();
    const cpuBefore = process.cpuUsage();
    const requestsBefore = runner.requestCount;
    await runner.postNow();
    for (let i = 0; i < 600 && runner.deliveries().pending > 0; i++) await sleep(100);
    // Let the re-polls that follow the wake-up land before counting requests.
    await sleep(1000);
    const cpu = process.cpuUsage(cpuBefore);
    const requests = runner.requestCount - requestsBefore;
    const promAfter = await sampler.scrape();
    await enter('drain');
    const delta = (name: string, match: Record<string, string> = {}) =>
      sum(promAfter, name, match) - sum(promBefore, name, match);
    const totals = runner.totals();
    const connections = Math.max(
      ...sampler.timeseries().map((s) => s.db_connections),
      total(Object.values(await sampler.connections())),
    );
    await finish();
    const wakeups = delta('busbench_bus_wakeups_total');
    return {
      dispatch,
      tabs,
      parked,
      seconds_to_park: round(secondsToPark),
      runner_rss_per_tab_kb: first ? round((after.rss - before.rss) / 1024 / tabs) : null,
      runner_heap_per_tab_kb: round((after.heapUsed - before.heapUsed) / 1024 / tabs),
      runner_cpu_us_per_request: requests > 0 ? round((cpu.user + cpu.system) / requests) : 0,
      db_connections_peak: connections,
      db_connections_allowed: poolSize + 1,
      fanout_ms: totals.delivery.latency_ms,
      fanout_delivered: totals.delivery.delivered,
      fetch_queries_per_wakeup:
        wakeups > 0 ? round(delta('busbench_bus_fetch_queries_total', { reason: 'wakeup' }) / wakeups) : 0,
      pool_exhausted_answers: totals.client.requests['bus.poll']?.['503'] ?? 0,
    };
  });
}

export function formatCapacity(figures: CapacityFigures[]): string {
  const lines = [
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  ];
  for (const f of figures) {
    lines.push(
      `dispatch ${f.dispatch}: ${f.parked}/${f.tabs} polls parked in ${f.seconds_to_park} s; ` +
        `DB connections peak ${f.db_connections_peak} (pool + LISTEN = ${f.db_connections_allowed}); ` +
        `broadcast reached ${f.fanout_delivered} tabs, fan-out p50 ${f.fanout_ms.p50} ms, p99 ${f.fanout_ms.p99} ms, ` +
        `max ${f.fanout_ms.max} ms; ${f.fetch_queries_per_wakeup} fetch queries per wake-up; ` +
        `${f.pool_exhausted_answers} polls answered 503; runner per tab: ` +
        `${f.runner_rss_per_tab_kb === null ? '' : `${f.runner_rss_per_tab_kb} KB RSS, `}` +
        `${f.runner_heap_per_tab_kb} KB heap; ${f.runner_cpu_us_per_request} µs CPU per request`,
    );
  }
  return lines.join('\n');
}
