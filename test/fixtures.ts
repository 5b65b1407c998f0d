// A synthetic two-case run for the renderer tests. The figures are made up but consistent
// with each other (totals match the time series, derived figures match the totals), so a
// chart or table that reads the wrong field shows up as a wrong number, not as noise. The
// compiler makes it fill every field of RunFile, so validating it also checks that the schema
// still matches the types where results.ts types a part by hand (the profile, server_config).
import type { CaseResult, EndpointTx, Percentiles, ProcessFigures, RunFile, Sample } from '../src/bench/results.js';

interface CaseSpec {
  topology: string;
  /** Database connections per application_name at full load. */
  apps: Record<string, number>;
  processes: string[];
  /** Failed attempts per second per endpoint during the measure phase. */
  conflicts: Record<string, number>;
  lost: number;
  pending: number;
  warnings: string[];
}

const TABS = 120;
const WARMUP = 2;
const MEASURE = 10;
const DRAIN = 1;
const COMMITS_PER_SECOND = { 'bus.poll': 60, 'chat.post': 5, 'presence.set': 20 };

function percentiles(count: number, p50: number): Percentiles {
  return { count, mean: p50 * 1.1, p50, p90: p50 * 2, p99: p50 * 4, p999: p50 * 6, max: p50 * 8 };
}

function endpointTx(commits: number, failures: number, finalFailures: number): EndpointTx {
  return {
    attempts: commits + failures,
    commits,
    serialization_failures: failures,
    deadlocks: 0,
    lock_not_available: 0,
    retries: failures - finalFailures,
    retried: failures - finalFailures,
    final_failures: finalFailures,
  };
}

function timeseries(spec: CaseSpec): Sample[] {
  const samples: Sample[] = [];
  const connections = Object.values(spec.apps).reduce((a, b) => a + b, 0);
  const conflicts = Object.values(spec.conflicts).reduce((a, b) => a + b, 0);
  const commits = Object.values(COMMITS_PER_SECOND).reduce((a, b) => a + b, 0);
  for (let t = -WARMUP; t < MEASURE + DRAIN; t++) {
    const phase = t < 0 ? 'warmup' : t < MEASURE ? 'measure' : 'drain';
    const load = phase === 'measure' ? 1 : 0.5;
    const perProcess = (value: number) => Object.fromEntries(spec.processes.map((p) => [p, value]));
    samples.push({
      t,
      phase,
      tabs: TABS,
      http_open: TABS + 20,
      http_opened: t === -WARMUP ? TABS + 20 : 0,
      queued_requests: spec.topology === 'single-process' ? 0 : 3,
      requests: Math.round(100 * load),
      errors: 0,
      deliveries: Math.round(400 * load),
      delivery_p99_ms: phase === 'drain' ? null : 40 + t,
      server_open_sockets: TABS + 20,
      parked_polls: TABS - 5,
      db_connections: connections,
      db_connections_by_app: { ...spec.apps },
      commits: Math.round(commits * load),
      serialization_failures: phase === 'measure' ? conflicts : 0,
      retries: phase === 'measure' ? conflicts : 0,
      retried: phase === 'measure' ? conflicts : 0,
      final_failures: 0,
      cpu_percent: perProcess(30 * load),
      rss_bytes: perProcess(80_000_000),
      event_loop_lag_ms: perProcess(2),
    });
  }
  return samples;
}

function processFigures(name: string): ProcessFigures {
  return {
    process: name,
    peak_open_sockets: 140,
    peak_parked_polls: 115,
    cpu_seconds: 3,
    cpu_percent: 30,
    peak_rss_bytes: 80_000_000,
    peak_event_loop_lag_ms: 2,
  };
}

function makeCase(spec: CaseSpec): CaseResult {
  const byEndpoint = Object.fromEntries(
    Object.entries(COMMITS_PER_SECOND).map(([endpoint, perSecond]) => [
      endpoint,
      endpointTx(perSecond * MEASURE, (spec.conflicts[endpoint] ?? 0) * MEASURE, 0),
    ]),
  );
  const sum = (field: keyof EndpointTx) => Object.values(byEndpoint).reduce((a, e) => a + (e[field] ?? 0), 0);
  const total: EndpointTx = {
    attempts: sum('attempts'),
    commits: sum('commits'),
    serialization_failures: sum('serialization_failures'),
    deadlocks: sum('deadlocks'),
    lock_not_available: sum('lock_not_available'),
    retries: sum('retries'),
    retried: sum('retried'),
    final_failures: sum('final_failures'),
  };
  const peakConnections = Object.values(spec.apps).reduce((a, b) => a + b, 0);
  const posts = COMMITS_PER_SECOND['chat.post'] * MEASURE;
  const expected = posts * 80;
  return {
    id: spec.topology,
    topology: spec.topology,
    presence: 'every-poll',
    isolation: 'repeatable-read',
    dispatch: 'per-waiter',
    server_config: { topology: spec.topology, poolSize: 10, workers: 2, databaseUrl: 'postgres://***@127.0.0.1/x' },
    started_at: '2026-11-23T10:00:00.000Z',
    measured_seconds: MEASURE,
    totals: {
      client: {
        tabs: TABS,
        browsers: 20,
        http_connections_opened: TABS + 20,
        http_connections_peak: TABS + 20,
        http_connections_peak_per_browser: 6,
        queued_requests_peak: 3,
        requests: {
          'bus.poll': { '200': 900, '409': total.final_failures },
          'chat.post': { '201': posts },
          'session.login': { '201': TABS, error: 1 },
        },
        poll_latency_ms: percentiles(900, 1200),
        post_latency_ms: percentiles(posts, 12),
        behind_schedule: { late_posts: 0, max_lag_ms: 4 },
      },
      delivery: {
        posts,
        posts_failed: 0,
        expected,
        delivered: expected - spec.lost - spec.pending,
        lost: spec.lost,
        pending: spec.pending,
        duplicated: 0,
        out_of_order: 0,
        latency_ms: percentiles(expected - spec.lost - spec.pending, 25),
      },
      server: { peak_open_sockets: 140, peak_parked_polls: 115, processes: spec.processes.map(processFigures) },
      database: {
        connections_by_app: Object.entries(spec.apps).map(([application_name, peak]) => ({
          application_name,
          peak,
          mean: peak * 0.8,
        })),
        peak_connections: peakConnections,
        mean_connections: peakConnections * 0.8,
        commits: total.commits + 12,
        rollbacks: total.serialization_failures,
        deadlocks: 0,
        app: { total, by_endpoint: byEndpoint },
      },
      derived: {
        failures_per_1000_tx:
          ((total.serialization_failures + total.deadlocks + total.lock_not_available) / total.commits) * 1000,
        final_failures_per_1000_tx: (total.final_failures / total.commits) * 1000,
        db_connections_per_1000_tabs: (peakConnections / TABS) * 1000,
        http_connections_per_tab: (TABS + 20) / TABS,
        requests_per_second: 100,
      },
    },
    timeseries: timeseries(spec),
    warnings: spec.warnings,
  };
}

export function sampleRun(): RunFile {
  return {
    schema: 'busbench/run@1',
    engine: 'node',
    started_at: '2026-11-23T10:00:00.000Z',
    finished_at: '2026-11-23T10:01:00.000Z',
    command: 'busbench bench --profile smoke --topology single-process,cluster-fork',
    machine: { cpus: 8, cpu_model: 'Synthetic CPU @ 3.0GHz', memory_bytes: 16e9, platform: 'linux', node: 'v20.18.1' },
    profile: { name: 'smoke', tabs: TABS, browsers: 20, warmup_seconds: WARMUP, seconds: MEASURE },
    sweep: { topology: ['single-process', 'cluster-fork'] },
    cases: [
      makeCase({
        topology: 'single-process',
        apps: { 'busbench/single-process/http/0': 6, 'busbench/single-process/listen/0': 1 },
        processes: ['main'],
        conflicts: { 'presence.set': 1 },
        lost: 0,
        pending: 0,
        warnings: [],
      }),
      makeCase({
        topology: 'cluster-fork',
        apps: {
          'busbench/cluster-fork/http/1': 9,
          'busbench/cluster-fork/http/2': 8,
          'busbench/cluster-fork/listen/1': 1,
          'busbench/cluster-fork/listen/2': 1,
        },
        processes: ['primary', 'worker-1', 'worker-2'],
        conflicts: { 'presence.set': 4, 'chat.post': 1 },
        lost: 2,
        pending: 3,
        warnings: ['2 of 4000 expected deliveries were lost'],
      }),
    ],
  };
}
