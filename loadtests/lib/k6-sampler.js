// The sampler scenario: one VU that reads the server's and the database's /metrics once a
// second, on the measure window's own clock, as the Node sampler (src/bench/sampler.ts) does:
// peaks from the samples inside the window, counters as the difference between the window's
// edges. In a distributed run only one instance gets this VU, so the server is read once.
import { sleep as blockingSleep } from 'k6';
import http from 'k6/http';
import { isMeasured, measureWindow, SQLSTATES } from './load-plan.js';
import { parsePrometheusText, sum } from './prometheus-text.js';

/**
 * @typedef {Record<string, number>} Counters The cumulative counters the window's deltas come from.
 * @typedef {{ at: number, counters: Counters }} Point
 */

/**
 * @param {import('./prometheus-text.js').PromSample[]} app
 * @param {import('./prometheus-text.js').PromSample[]} db
 * @returns {Counters}
 */
function countersOf(app, db) {
  /** @type {Counters} */
  const out = {
    attempts: sum(app, 'busbench_tx_attempts_total'),
    commits: sum(app, 'busbench_tx_commits_total'),
    retries: sum(app, 'busbench_tx_retries_total'),
    retried: sum(app, 'busbench_tx_retried_total'),
    final_failures: sum(app, 'busbench_tx_final_failures_total'),
    dbCommits: sum(db, 'busbench_db_xact_commit_total'),
    dbRollbacks: sum(db, 'busbench_db_xact_rollback_total'),
    dbDeadlocks: sum(db, 'busbench_db_deadlocks_total'),
  };
  for (const [key, sqlstate] of Object.entries(SQLSTATES)) {
    out[key] = sum(app, 'busbench_tx_failures_total', { sqlstate });
  }
  return out;
}

/**
 * The counters at time `at`: the sample taken there, else the line between the nearest
 * samples on either side, else the nearest one; undefined with no sample at all.
 * @param {Point | undefined} before Latest successful sample at or before `at`.
 * @param {Point | undefined} after Earliest successful sample at or after `at`.
 * @param {number} at
 * @returns {{ counters: Counters, estimated: boolean } | undefined}
 */
export function countersAt(before, after, at) {
  if (before && after) {
    if (after.at === before.at) return { counters: before.counters, estimated: false };
    const f = (at - before.at) / (after.at - before.at);
    /** @type {Counters} */
    const counters = {};
    for (const key of Object.keys(before.counters)) {
      const a = before.counters[key] || 0;
      const b = after.counters[key] || 0;
      counters[key] = a + (b - a) * f;
    }
    return { counters, estimated: true };
  }
  const only = before || after;
  return only ? { counters: only.counters, estimated: true } : undefined;
}

/** A sample this close to an edge is the edge's (scrapes take a few ms). */
const EDGE_TOLERANCE_MS = 250;

/**
 * The sampler scenario's exec function. Gauges become trends (their max is the peak); a
 * failed scrape is skipped and counted, never read as 0.
 * @param {import('./k6-env.js').K6Settings} settings
 * @param {import('./k6-metrics.js').K6Metrics} metrics
 */
export function samplerVu(settings, metrics) {
  const profile = settings.profile;
  const tabs = profile.users * profile.browsersPerUser * profile.tabsPerBrowser;
  const c = metrics.counters;

  /** @param {string} url */
  const scrape = (url) => {
    const res = http.get(url, { tags: { endpoint: 'metrics', name: 'metrics' }, timeout: '5s' });
    return res.status === 200 ? parsePrometheusText(String(res.body)) : undefined;
  };

  /** @param {import('./k6-summary.js').SetupData} data */
  return function sampler(data) {
    const measure = measureWindow(data.t0, profile);
    // Ticks fall on whole seconds from the window's start, so both edges are ticks.
    const first = measure.start - Math.floor((measure.start - Date.now()) / 1000) * 1000;
    /** @type {Record<'start' | 'end', { before?: Point, after?: Point }>} */
    const edges = { start: {}, end: {} };
    for (let tick = first; tick <= measure.end + 1000; tick += 1000) {
      const wait = tick - Date.now();
      if (wait > 0) blockingSleep(wait / 1000);
      else if (wait < -1000) continue;
      const app = scrape(settings.metricsUrl);
      const db = settings.dbMetricsUrl ? scrape(settings.dbMetricsUrl) : [];
      const now = Date.now();
      metrics.tabs.add(tabs);
      const measured = isMeasured(tick, measure);
      if (!app || !db) {
        if (measured) c.samplesMissed.add(1);
        continue;
      }
      if (measured) {
        metrics.serverSockets.add(sum(app, 'busbench_http_open_sockets'));
        metrics.parkedPolls.add(sum(app, 'busbench_bus_parked_polls'));
        metrics.serverWebsockets.add(sum(app, 'busbench_ws_open_sockets'));
        if (settings.dbMetricsUrl) metrics.dbConnections.add(sum(db, 'busbench_db_connections'));
      }
      const point = { at: now, counters: countersOf(app, db) };
      for (const key of /** @type {const} */ (['start', 'end'])) {
        const edge = measure[key];
        const e = edges[key];
        if (now <= edge + EDGE_TOLERANCE_MS) e.before = point;
        if (now >= edge - EDGE_TOLERANCE_MS && !e.after) e.after = point;
      }
    }
    const begin = countersAt(edges.start.before, edges.start.after, measure.start);
    const end = countersAt(edges.end.before, edges.end.after, measure.end);
    if (!begin || !end) {
      c.edgesMissing.add(1);
      return;
    }
    for (const e of [begin, end]) if (e.estimated) c.edgesEstimated.add(1);
    /** @param {string} key */
    const delta = (key) => Math.max(0, Math.round((end.counters[key] || 0) - (begin.counters[key] || 0)));
    const tx = metrics.tx;
    for (const key of /** @type {(keyof typeof tx)[]} */ (Object.keys(tx))) tx[key].add(delta(key));
    c.dbCommits.add(delta('dbCommits'));
    c.dbRollbacks.add(delta('dbRollbacks'));
    c.dbDeadlocks.add(delta('dbDeadlocks'));
  };
}
