// The sampler scenario: one VU that reads the server's and the database's /metrics once a
// second until the drain ends, as the Node sampler (src/bench/sampler.ts) does.
import { sleep as blockingSleep } from 'k6';
import http from 'k6/http';
import { isMeasured, measureWindow, SQLSTATES } from './load-plan.js';
import { parsePrometheusText, sum } from './prometheus-text.js';

/**
 * The sampler scenario's exec function. Gauges become trends (their max is the peak);
 * counters are read at the measure window's edges.
 * @param {import('./k6-env.js').K6Settings} settings
 * @param {import('./k6-metrics.js').K6Metrics} metrics
 */
export function samplerVu(settings, metrics) {
  const profile = settings.profile;
  const tabs = profile.users * profile.browsersPerUser * profile.tabsPerBrowser;
  const c = metrics.counters;

  /** @param {string} url */
  const scrape = (url) => {
    const res = http.get(url, { tags: { endpoint: 'metrics', name: 'metrics' } });
    return res.status === 200 ? parsePrometheusText(String(res.body)) : [];
  };

  /** @param {import('./k6-summary.js').SetupData} data */
  return function sampler(data) {
    const measure = measureWindow(data.t0, profile);
    /** @type {{ app: import('./prometheus-text.js').PromSample[], db: import('./prometheus-text.js').PromSample[] }[]} */
    const edges = [];
    while (Date.now() < measure.end + 1000) {
      const app = scrape(settings.metricsUrl);
      const db = settings.dbMetricsUrl ? scrape(settings.dbMetricsUrl) : [];
      metrics.tabs.add(tabs);
      const now = Date.now();
      if (isMeasured(now, measure)) {
        metrics.serverSockets.add(sum(app, 'busbench_http_open_sockets'));
        metrics.parkedPolls.add(sum(app, 'busbench_bus_parked_polls'));
        if (settings.dbMetricsUrl) metrics.dbConnections.add(sum(db, 'busbench_db_connections'));
        if (edges.length === 0) edges.push({ app, db });
      } else if (now >= measure.end && edges.length === 1) {
        edges.push({ app, db });
      }
      blockingSleep(Math.max(0, 1 - ((Date.now() - now) % 1000) / 1000));
    }
    const [begin, end] = edges;
    if (!begin || !end) return;
    /** @param {'app' | 'db'} source @param {string} name @param {Record<string, string>} [match] */
    const delta = (source, name, match) => Math.max(0, sum(end[source], name, match) - sum(begin[source], name, match));
    const tx = metrics.tx;
    tx.attempts.add(delta('app', 'busbench_tx_attempts_total'));
    tx.commits.add(delta('app', 'busbench_tx_commits_total'));
    for (const [key, sqlstate] of Object.entries(SQLSTATES)) {
      tx[/** @type {keyof typeof SQLSTATES} */ (key)].add(delta('app', 'busbench_tx_failures_total', { sqlstate }));
    }
    tx.retries.add(delta('app', 'busbench_tx_retries_total'));
    tx.final_failures.add(delta('app', 'busbench_tx_final_failures_total'));
    c.dbCommits.add(delta('db', 'busbench_db_xact_commit_total'));
    c.dbRollbacks.add(delta('db', 'busbench_db_xact_rollback_total'));
    c.dbDeadlocks.add(delta('db', 'busbench_db_deadlocks_total'));
  };
}
