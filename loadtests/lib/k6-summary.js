// Turns k6's end-of-test summary into busbench's run.json, so `busbench report` and
// `busbench compare` read a k6 run like a Node one. No k6 imports here: Node's tests feed
// it a summary and validate the result against the run.json schema (src/bench/results.ts).
//
// What k6 cannot give: a per-second series (its summary holds aggregates only; Grafana has
// the series through remote write), per-process figures, per-endpoint transactions, and the
// client's connection count across browsers (each VU sees only its own). Those fields are
// empty or taken from the server, and the case says so in its warnings.
import { caseWarnings, derive } from './case-figures.js';
import { LOAD_METRICS } from './load-metrics.js';
import { round } from './numbers.js';

/** Every k6 metric the scripts record; LOAD_METRICS are the ones Grafana shows live. */
export const K6_METRICS = Object.assign({}, LOAD_METRICS, {
  postLatency: 'busbench_post_latency',
  pollLatency: 'busbench_poll_latency',
  postLag: 'busbench_post_lag',
  latePosts: 'busbench_late_posts',
  posts: 'busbench_posts',
  requests: 'busbench_requests',
  postsFailed: 'busbench_posts_failed',
  expected: 'busbench_expected_deliveries',
  delivered: 'busbench_delivered',
  pending: 'busbench_pending_deliveries',
  outOfOrder: 'busbench_out_of_order',
  openFailures: 'busbench_open_failures',
  connectionsOpened: 'busbench_connections_opened',
  browserConnections: 'busbench_browser_connections',
  queued: 'busbench_queued_requests',
  queuedMs: 'busbench_queued_ms',
  postQueuedMs: 'busbench_post_queued_ms',
  serverSockets: 'busbench_server_open_sockets',
  parkedPolls: 'busbench_server_parked_polls',
  serverWebsockets: 'busbench_server_open_websockets',
  dbConnections: 'busbench_db_connections_sampled',
  dbCommits: 'busbench_db_commits',
  dbRollbacks: 'busbench_db_rollbacks',
  dbDeadlocks: 'busbench_db_deadlocks',
  browsersStarted: 'busbench_browsers_started',
  browsersOpened: 'busbench_browsers_opened',
  historyFailures: 'busbench_history_failures',
  samplesMissed: 'busbench_samples_missed',
  edgesEstimated: 'busbench_edges_estimated',
  edgesMissing: 'busbench_edges_missing',
});

/**
 * The endpoints and statuses counted per request in the measure window, on one counter tagged
 * endpoint and status. k6's summary keeps a tag combination only as a threshold's submetric,
 * so k6-run.js declares one (always true) per pair; a status outside this list is "other".
 */
export const REQUEST_ENDPOINTS = ['session.login', 'chat.channels', 'bus.poll', 'chat.post', 'bus.websocket'];
export const REQUEST_STATUSES = [
  'error',
  '101',
  '200',
  '201',
  '400',
  '401',
  '403',
  '404',
  '405',
  '408',
  '409',
  '413',
  '431',
  '500',
  '502',
  '503',
  '504',
  'other',
];

/** The status key run.json uses for an answer: "error" when none came (as the Node runner says). */
/** @param {number} status */
export function statusKey(status) {
  if (status === 0) return 'error';
  const key = String(status);
  return REQUEST_STATUSES.indexOf(key) >= 0 ? key : 'other';
}

/** The submetric of one endpoint and status, as k6's summary names it. */
/** @param {string} endpoint @param {string} status */
export function requestMetric(endpoint, status) {
  return `${K6_METRICS.requests}{endpoint:${endpoint},status:${status}}`;
}

/** The app's transaction counters, measured as deltas over the measure window by the sampler. */
export const TX_METRICS = {
  attempts: 'busbench_server_tx_attempts',
  commits: 'busbench_server_tx_commits',
  serialization_failures: 'busbench_server_tx_serialization_failures',
  deadlocks: 'busbench_server_tx_deadlocks',
  lock_not_available: 'busbench_server_tx_lock_not_available',
  retries: 'busbench_server_tx_retries',
  retried: 'busbench_server_tx_retried',
  final_failures: 'busbench_server_tx_final_failures',
};

/** k6's trend statistics, as options.summaryTrendStats must list them for percentiles(). */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)', 'p(99.9)', 'count'];

/**
 * @typedef {object} K6Metric
 * @property {string} type
 * @property {Record<string, number>} values
 *
 * @typedef {object} K6Summary The object k6 passes to handleSummary (the fields used here).
 * @property {Record<string, K6Metric>} metrics
 *
 * @typedef {object} SetupData What setup() learned and decided.
 * @property {number} t0 When the timeline starts (ms since the epoch).
 * @property {string} runTag
 * @property {string} appUrl
 * @property {string} busUrl
 * @property {number} pollTimeout The server's.
 * @property {Record<string, unknown>} server GET /config as the server answered it.
 *
 * @typedef {object} RunContext
 * @property {import('./profiles.js').Profile} profile The resolved profile (env applied).
 * @property {string} testid
 * @property {string} command
 * @property {boolean} thresholdsFailed
 * @property {import('./ws-tab.js').BusTransport} [transport] longpoll when not given.
 */

/**
 * @param {K6Summary} data
 * @param {string} name
 * @param {string} stat
 */
function value(data, name, stat) {
  const m = data.metrics[name];
  const v = m ? m.values[stat] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** @param {K6Summary} data @param {string} name */
const count = (data, name) => value(data, name, 'count');

/**
 * k6 keeps time trends in milliseconds, as busbench does.
 * @param {K6Summary} data @param {string} name
 * @returns {import('../../src/bench/results.js').Percentiles}
 */
function percentiles(data, name) {
  const n = value(data, name, 'count');
  if (n === 0) return { count: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null };
  const ms = (/** @type {string} */ stat) => round(value(data, name, stat), 3);
  return {
    count: n,
    mean: ms('avg'),
    p50: ms('med'),
    p90: ms('p(90)'),
    p99: ms('p(99)'),
    p999: ms('p(99.9)'),
    max: ms('max'),
  };
}

/**
 * @param {K6Summary} data
 * @param {SetupData} setup
 * @param {RunContext} ctx
 * @returns {import('../../src/bench/results.js').RunFile}
 */
export function k6RunFile(data, setup, ctx) {
  const p = ctx.profile;
  const M = K6_METRICS;
  const topology = String(setup.server.topology || 'unknown');
  /** @type {Record<string, Record<string, number>>} */
  const requests = {};
  let failedRequests = 0;
  let allRequests = 0;
  for (const endpoint of REQUEST_ENDPOINTS) {
    for (const status of REQUEST_STATUSES) {
      const n = count(data, requestMetric(endpoint, status));
      if (n === 0) continue;
      if (!requests[endpoint]) requests[endpoint] = {};
      requests[endpoint][status] = n;
      allRequests += n;
      if (status === 'error' || status === 'other' || Number(status) >= 400) failedRequests += n;
    }
  }
  /** @type {import('../../src/bench/results.js').EndpointTx} */
  const tx = {
    attempts: count(data, TX_METRICS.attempts),
    commits: count(data, TX_METRICS.commits),
    serialization_failures: count(data, TX_METRICS.serialization_failures),
    deadlocks: count(data, TX_METRICS.deadlocks),
    lock_not_available: count(data, TX_METRICS.lock_not_available),
    retries: count(data, TX_METRICS.retries),
    retried: count(data, TX_METRICS.retried),
    final_failures: count(data, TX_METRICS.final_failures),
  };
  const serverSockets = value(data, M.serverSockets, 'max');
  const dbPeak = value(data, M.dbConnections, 'max');
  const totals = {
    client: {
      // This instance's share in a distributed run; like the Node runner, tabs of browsers that opened.
      tabs: count(data, M.browsersOpened) * p.tabsPerBrowser,
      browsers: count(data, M.browsersStarted),
      http_connections_opened: count(data, M.connectionsOpened),
      // One VU cannot see the others' sockets; on loopback the server's count is the same set.
      http_connections_peak: serverSockets,
      http_connections_peak_per_browser: value(data, M.browserConnections, 'max'),
      queued_requests_peak: value(data, M.queued, 'max'),
      requests,
      poll_latency_ms: percentiles(data, M.pollLatency),
      post_latency_ms: percentiles(data, M.postLatency),
      queued_ms: percentiles(data, M.queuedMs),
      post_queued_ms: percentiles(data, M.postQueuedMs),
      behind_schedule: { late_posts: count(data, M.latePosts), max_lag_ms: Math.round(value(data, M.postLag, 'max')) },
    },
    delivery: {
      posts: count(data, M.posts),
      posts_failed: count(data, M.postsFailed),
      expected: count(data, M.expected),
      delivered: count(data, M.delivered),
      lost: count(data, M.lost),
      pending: count(data, M.pending),
      duplicated: count(data, M.duplicated),
      out_of_order: count(data, M.outOfOrder),
      latency_ms: percentiles(data, M.deliveryLatency),
    },
    server: {
      peak_open_sockets: serverSockets,
      peak_parked_polls: value(data, M.parkedPolls, 'max'),
      peak_open_websockets: value(data, M.serverWebsockets, 'max'),
      processes: [],
    },
    database: {
      connections_by_app: [],
      peak_connections: dbPeak,
      mean_connections: round(value(data, M.dbConnections, 'avg')),
      commits: count(data, M.dbCommits),
      rollbacks: count(data, M.dbRollbacks),
      deadlocks: count(data, M.dbDeadlocks),
      app: { total: tx, by_endpoint: {} },
    },
  };
  const full = Object.assign({}, totals, { derived: derive(totals, p.duration) });
  const warnings = caseWarnings(full);
  const openFailures = count(data, M.openFailures);
  if (openFailures > 0) warnings.unshift(`${openFailures} browsers could not log in or list their channels`);
  if (failedRequests > 0)
    warnings.push(`${failedRequests} of ${allRequests} measured requests failed (4xx, 5xx or no answer)`);
  if (dbPeak === 0) warnings.push('no database figures: set DB_METRICS_URL to a `busbench db-exporter`');
  const historyFailures = count(data, M.historyFailures);
  if (historyFailures > 0) {
    warnings.push(
      `${historyFailures} channel histories could not be read: their posts are missing from expected, lost and pending`,
    );
  }
  const missed = count(data, M.samplesMissed);
  if (missed > 0) warnings.push(`${missed} samples of /metrics failed in the measure window: peaks skip them`);
  const estimated = count(data, M.edgesEstimated);
  if (estimated > 0) {
    warnings.push(
      `${estimated} measure-window edges were not scraped on time: counters interpolated from the nearest samples`,
    );
  }
  if (count(data, M.edgesMissing) > 0) {
    warnings.push(
      'no /metrics sample on one side of the measure window: the server transaction figures are missing, not 0',
    );
  }
  if (ctx.thresholdsFailed) warnings.push('k6 thresholds failed: k6 exits non-zero');
  warnings.push('k6 run: no per-second series, per-process or per-endpoint figures here (Grafana has the series)');
  const startedAt = new Date(setup.t0).toISOString();
  return {
    schema: 'busbench/run@1',
    engine: 'k6',
    started_at: startedAt,
    finished_at: new Date().toISOString(),
    command: ctx.command,
    machine: { cpus: 0, cpu_model: 'unknown (k6 does not report it)', memory_bytes: 0, platform: 'k6', node: '' },
    profile: Object.assign({}, p),
    sweep: { topology: [topology] },
    cases: [
      {
        id: topology,
        topology,
        presence: String(setup.server.presence || p.presence),
        isolation: String(setup.server.isolation || p.isolation),
        dispatch: String(setup.server.dispatch || 'unknown'),
        transport: ctx.transport || 'longpoll',
        server_config: Object.assign({}, setup.server, {
          testid: ctx.testid,
          app_url: setup.appUrl,
          bus_url: setup.busUrl,
        }),
        started_at: startedAt,
        measured_seconds: p.duration,
        totals: full,
        timeseries: [],
        warnings,
      },
    ],
  };
}
