// Once a second: the client's figures from the runner, the server's from GET /metrics, and the
// database's from pg_stat_activity and pg_stat_database. The database is asked directly
// because PostgreSQL's own count of connections is the one a DBA would trust; serialization
// failures only the app can count (PostgreSQL has no counter for them).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { SQLSTATES } from '../../loadtests/lib/load-plan.js';
import { round, total } from '../../loadtests/lib/numbers.js';
import { byLabel, type PromSample, sum } from '../../loadtests/lib/prometheus-text.js';
import { byApplication, connectionGroups, type DatabaseCounters, databaseCounters } from './db-stats.js';
import { MetricsScraper } from './metrics-scraper.js';
import type { CaseTotals, EndpointTx, ProcessFigures, Sample } from './results.js';
import type { Phase, Runner } from './runner.js';

/** The server's gauge of open websockets (upgraded /websocket connections), per process. */
const WEBSOCKETS_OPEN = 'busbench_ws_open_sockets';

interface Tick {
  at: number;
  sample: Omit<Sample, 't'>;
  /** Per process, for the peaks in the totals (the series keeps the layout's sums). */
  sockets: Record<string, number>;
  parked: Record<string, number>;
}

export class Sampler {
  readonly #runner: Runner;
  readonly #metrics: MetricsScraper;
  #db: pg.Client;
  #broken = false;
  readonly #databaseUrl: string;
  readonly #ticks: Tick[] = [];
  #phase: Phase = 'warmup';
  #loop: Promise<void> | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #previous: { at: number; prom: PromSample[]; db: DatabaseCounters } | undefined;
  /** The layout's RSS (all processes) before the first browser opened: what the load adds is measured from it. */
  #baselineRss = 0;
  /** /metrics and pg_stat_database when the measurement began and ended. */
  #edges: { prom: PromSample[]; db: DatabaseCounters; at: number }[] = [];

  constructor(runner: Runner, metricsUrl: string, databaseUrl: string) {
    this.#runner = runner;
    this.#metrics = new MetricsScraper(metricsUrl);
    this.#databaseUrl = databaseUrl;
    this.#db = this.#client();
  }

  /** A new connection; one that a fault (--faults pg-restart) broke is replaced at the next tick. */
  #client(): pg.Client {
    const client = new pg.Client({
      connectionString: this.#databaseUrl,
      application_name: 'busbench/sampler',
      query_timeout: 5000,
    });
    client.on('error', () => {
      if (this.#db === client) this.#broken = true;
    });
    return client;
  }

  async start(): Promise<void> {
    await this.#db.connect();
    this.#previous = { at: performance.now(), prom: await this.scrape(), db: await this.#dbStats() };
    this.#baselineRss = sum(this.#previous.prom, 'process_resident_memory_bytes');
    this.#loop = this.#run();
  }

  /** The measure phase's edges are scraped at once, so totals cover exactly that window. */
  async setPhase(phase: Phase): Promise<void> {
    this.#phase = phase;
    if (phase === 'measure' || phase === 'drain') {
      this.#edges.push({ prom: await this.scrape(), db: await this.#dbStats(), at: Date.now() });
    }
  }

  /** Idempotent: the bench calls it on success and again on the way out. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      await this.#loop;
      await Promise.allSettled([this.#db.end(), this.#metrics.close()]);
    })();
    return this.#stopping;
  }

  /** For the progress line: the last second's request rate and the measured failures so far. */
  progress(): { requestsPerSecond: number; failures: number; errors: number } {
    let failures = 0;
    let errors = 0;
    for (const t of this.#ticks) {
      if (t.sample.phase !== 'measure') continue;
      failures += t.sample.serialization_failures;
      errors += t.sample.errors;
    }
    return { requestsPerSecond: this.#ticks.at(-1)?.sample.requests ?? 0, failures, errors };
  }

  /** Sampling stays on whole seconds from the start even when one scrape is slow. */
  async #run(): Promise<void> {
    const start = performance.now();
    for (let n = 1; !this.#stopped; n++) {
      // A slow tick skips the seconds it overran instead of firing them back to back.
      n = Math.max(n, Math.ceil((performance.now() - start) / 1000));
      const wait = start + n * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      if (this.#stopped) return;
      await this.#tick().catch((err: Error) => console.error(`[busbench] sample skipped: ${err.message}`));
    }
  }

  async #tick(): Promise<void> {
    // One pg.Client runs one query at a time; /metrics is fetched meanwhile.
    const scraping = this.scrape();
    // Awaited below; this keeps a failed scrape from being "unhandled" while pg answers.
    scraping.catch(() => {});
    if (this.#broken) {
      this.#db = this.#client();
      await this.#db.connect();
      this.#broken = false;
    }
    const db = await this.#dbStats();
    const connections = await this.connections();
    const prom = await scraping;
    // Taken last: if a scrape fails, the client's counts carry over to the next second.
    const client = this.#runner.sample();
    const previous = this.#previous;
    const at = performance.now();
    this.#previous = { at, prom, db };
    if (!previous) return;
    const seconds = (at - previous.at) / 1000;
    const delta = (name: string, match: Record<string, string> = {}) =>
      Math.max(0, sum(prom, name, match) - sum(previous.prom, name, match));
    const cpuNow = byLabel(prom, 'process_cpu_seconds_total', 'process');
    const cpuBefore = byLabel(previous.prom, 'process_cpu_seconds_total', 'process');
    const cpu: Record<string, number> = {};
    for (const [p, v] of Object.entries(cpuNow)) cpu[p] = round(((v - (cpuBefore[p] ?? v)) / seconds) * 100);
    const lag = byLabel(prom, 'nodejs_eventloop_lag_p99_seconds', 'process');
    this.#ticks.push({
      at: Date.now(),
      sample: {
        phase: this.#phase,
        tabs: client.tabs,
        http_open: client.httpOpen,
        http_opened: client.httpOpened,
        queued_requests: client.queued,
        requests: client.requests,
        errors: client.errors,
        deliveries: client.deliveries,
        delivery_p99_ms: client.deliveryP99Ms,
        server_open_sockets: sum(prom, 'busbench_http_open_sockets'),
        parked_polls: sum(prom, 'busbench_bus_parked_polls'),
        server_open_websockets: sum(prom, WEBSOCKETS_OPEN),
        db_connections: total(Object.values(connections)),
        db_connections_by_app: connections,
        commits: Math.max(0, db.commits - previous.db.commits),
        serialization_failures: delta('busbench_tx_failures_total', { sqlstate: SQLSTATES.serialization_failures }),
        retries: delta('busbench_tx_retries_total'),
        retried: delta('busbench_tx_retried_total'),
        final_failures: delta('busbench_tx_final_failures_total'),
        cpu_percent: cpu,
        rss_bytes: byLabel(prom, 'process_resident_memory_bytes', 'process'),
        event_loop_lag_ms: Object.fromEntries(Object.entries(lag).map(([p, v]) => [p, round(v * 1000)])),
      },
      sockets: byLabel(prom, 'busbench_http_open_sockets', 'process'),
      parked: byLabel(prom, 'busbench_bus_parked_polls', 'process'),
    });
  }

  scrape(): Promise<PromSample[]> {
    return this.#metrics.scrape();
  }

  #dbStats(): Promise<DatabaseCounters> {
    return databaseCounters(this.#db);
  }

  /** Connections to this database by application_name, the sampler's own excluded. */
  async connections(): Promise<Record<string, number>> {
    return byApplication(await connectionGroups(this.#db));
  }

  /** The 1 s series with t relative to the start of the measurement. */
  timeseries(): Sample[] {
    const zero = this.#edges[0]?.at ?? this.#ticks[0]?.at ?? 0;
    return this.#ticks.map(({ at, sample }) => ({ t: round((at - zero) / 1000), ...sample }));
  }

  totals(measuredSeconds: number): Pick<CaseTotals, 'server' | 'database'> {
    const measured = this.#ticks.filter((t) => t.sample.phase === 'measure');
    const [begin, end] = this.#edges;
    const processes = new Map<string, ProcessFigures>();
    const figures = (p: string): ProcessFigures => {
      let f = processes.get(p);
      if (!f) {
        f = {
          process: p,
          peak_open_sockets: 0,
          peak_parked_polls: 0,
          cpu_seconds: 0,
          cpu_percent: 0,
          peak_rss_bytes: 0,
          peak_event_loop_lag_ms: 0,
        };
        processes.set(p, f);
      }
      return f;
    };
    let peakSockets = 0;
    let peakParked = 0;
    let peakWebsockets = 0;
    let held = 0;
    let rss = 0;
    const apps = new Map<string, { peak: number; sum: number }>();
    let peakConnections = 0;
    let sumConnections = 0;
    for (const { sample: s, sockets, parked } of measured) {
      peakSockets = Math.max(peakSockets, s.server_open_sockets);
      peakParked = Math.max(peakParked, s.parked_polls);
      peakWebsockets = Math.max(peakWebsockets, s.server_open_websockets ?? 0);
      held += (s.server_open_websockets ?? 0) + s.parked_polls;
      rss += total(Object.values(s.rss_bytes));
      for (const [p, v] of Object.entries(sockets))
        figures(p).peak_open_sockets = Math.max(figures(p).peak_open_sockets, v);
      for (const [p, v] of Object.entries(parked))
        figures(p).peak_parked_polls = Math.max(figures(p).peak_parked_polls, v);
      for (const [p, v] of Object.entries(s.rss_bytes))
        figures(p).peak_rss_bytes = Math.max(figures(p).peak_rss_bytes, v);
      for (const [p, v] of Object.entries(s.event_loop_lag_ms)) {
        figures(p).peak_event_loop_lag_ms = Math.max(figures(p).peak_event_loop_lag_ms, v);
      }
      peakConnections = Math.max(peakConnections, s.db_connections);
      sumConnections += s.db_connections;
      for (const [app, n] of Object.entries(s.db_connections_by_app)) {
        const a = apps.get(app) ?? { peak: 0, sum: 0 };
        a.peak = Math.max(a.peak, n);
        a.sum += n;
        apps.set(app, a);
      }
    }
    const app: CaseTotals['database']['app'] = { total: emptyTx(), by_endpoint: {} };
    if (begin && end) {
      const cpuEnd = byLabel(end.prom, 'process_cpu_seconds_total', 'process');
      const cpuBegin = byLabel(begin.prom, 'process_cpu_seconds_total', 'process');
      for (const [p, v] of Object.entries(cpuEnd)) {
        const f = figures(p);
        f.cpu_seconds = round(v - (cpuBegin[p] ?? v));
        f.cpu_percent = measuredSeconds > 0 ? round((f.cpu_seconds / measuredSeconds) * 100) : 0;
      }
      const endpoints = new Set(Object.keys(byLabel(end.prom, 'busbench_tx_attempts_total', 'endpoint')));
      for (const endpoint of endpoints) {
        const d = (name: string, match: Record<string, string> = {}) =>
          Math.max(0, sum(end.prom, name, { endpoint, ...match }) - sum(begin.prom, name, { endpoint, ...match }));
        const attempts = d('busbench_tx_attempts_total');
        // The server starts every endpoint's series at 0; only those that ran are figures.
        if (attempts === 0) continue;
        const tx: EndpointTx = {
          attempts,
          commits: d('busbench_tx_commits_total'),
          serialization_failures: d('busbench_tx_failures_total', { sqlstate: SQLSTATES.serialization_failures }),
          deadlocks: d('busbench_tx_failures_total', { sqlstate: SQLSTATES.deadlocks }),
          lock_not_available: d('busbench_tx_failures_total', { sqlstate: SQLSTATES.lock_not_available }),
          retries: d('busbench_tx_retries_total'),
          retried: d('busbench_tx_retried_total'),
          final_failures: d('busbench_tx_final_failures_total'),
        };
        app.by_endpoint[endpoint] = tx;
        for (const key of Object.keys(tx) as (keyof EndpointTx)[])
          app.total[key] = (app.total[key] ?? 0) + (tx[key] ?? 0);
      }
      app.failure_messages = failureMessages(begin.prom, end.prom);
    }
    const n = Math.max(1, measured.length);
    return {
      server: {
        peak_open_sockets: peakSockets,
        peak_parked_polls: peakParked,
        peak_open_websockets: peakWebsockets,
        mean_held_connections: round(held / n),
        rss_growth_bytes: measured.length > 0 && this.#baselineRss > 0 ? Math.round(rss / n - this.#baselineRss) : null,
        processes: [...processes.values()].sort((a, b) => a.process.localeCompare(b.process)),
      },
      database: {
        connections_by_app: [...apps.entries()]
          .map(([application_name, a]) => ({ application_name, peak: a.peak, mean: round(a.sum / n) }))
          .sort((a, b) => a.application_name.localeCompare(b.application_name)),
        peak_connections: peakConnections,
        mean_connections: round(sumConnections / n),
        commits: begin && end ? end.db.commits - begin.db.commits : 0,
        rollbacks: begin && end ? end.db.rollbacks - begin.db.rollbacks : 0,
        deadlocks: begin && end ? end.db.deadlocks - begin.db.deadlocks : 0,
        app,
      },
    };
  }
}

/** Failed attempts in the window by SQLSTATE and PostgreSQL's message text; only those that occurred. */
function failureMessages(begin: PromSample[], end: PromSample[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const s of end) {
    if (s.name !== 'busbench_tx_failure_messages_total') continue;
    const { sqlstate = '', message = '' } = s.labels;
    const count = s.value - sum(begin, s.name, { sqlstate, message });
    if (count > 0) out[sqlstate] = { ...out[sqlstate], [message]: (out[sqlstate]?.[message] ?? 0) + count };
  }
  return out;
}

function emptyTx(): EndpointTx {
  return {
    attempts: 0,
    commits: 0,
    serialization_failures: 0,
    deadlocks: 0,
    lock_not_available: 0,
    retries: 0,
    retried: 0,
    final_failures: 0,
  };
}
