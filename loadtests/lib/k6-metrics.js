// The k6 run's custom metrics, under the names k6-summary.js reads back into run.json. k6
// accepts new metrics in the init context only, so a script creates them as it loads.
import { Counter, Gauge, Trend } from 'k6/metrics';
import { K6_METRICS, TX_METRICS } from './k6-summary.js';

/** The counters the browsers and the sampler add to, by their key in K6_METRICS. */
const COUNTERS = /** @type {const} */ ([
  'lost',
  'duplicated',
  'finalFailures',
  'polls',
  'latePosts',
  'posts',
  'postsFailed',
  'expected',
  'delivered',
  'pending',
  'outOfOrder',
  'openFailures',
  'connectionsOpened',
  'dbCommits',
  'dbRollbacks',
  'dbDeadlocks',
  'browsersStarted',
  'browsersOpened',
  'historyFailures',
  'samplesMissed',
  'edgesEstimated',
  'edgesMissing',
]);

/**
 * @typedef {object} K6Metrics
 * @property {Gauge} tabs
 * @property {Trend} deliveryLatency
 * @property {Trend} postLatency
 * @property {Trend} pollLatency
 * @property {Trend} postLag
 * @property {Trend} browserConnections
 * @property {Trend} queued
 * @property {Trend} queuedMs How long a request sent in the window waited for a connection.
 * @property {Trend} postQueuedMs The same for chat posts.
 * @property {Trend} serverSockets
 * @property {Trend} parkedPolls
 * @property {Trend} serverWebsockets
 * @property {Trend} dbConnections
 * @property {Record<(typeof COUNTERS)[number], Counter>} counters
 * @property {Record<keyof typeof TX_METRICS, Counter>} tx The app's transaction counters.
 * @property {Counter} requests Measured requests, tagged endpoint and status (statusKey).
 */

/** @returns {K6Metrics} */
export function createMetrics() {
  const M = K6_METRICS;
  const counters = /** @type {K6Metrics['counters']} */ ({});
  for (const key of COUNTERS) counters[key] = new Counter(M[key]);
  const tx = /** @type {K6Metrics['tx']} */ ({});
  for (const [key, name] of Object.entries(TX_METRICS))
    tx[/** @type {keyof typeof TX_METRICS} */ (key)] = new Counter(name);
  return {
    tabs: new Gauge(M.tabs),
    deliveryLatency: new Trend(M.deliveryLatency, true),
    postLatency: new Trend(M.postLatency, true),
    pollLatency: new Trend(M.pollLatency, true),
    postLag: new Trend(M.postLag, true),
    browserConnections: new Trend(M.browserConnections),
    queued: new Trend(M.queued),
    queuedMs: new Trend(M.queuedMs, true),
    postQueuedMs: new Trend(M.postQueuedMs, true),
    serverSockets: new Trend(M.serverSockets),
    parkedPolls: new Trend(M.parkedPolls),
    serverWebsockets: new Trend(M.serverWebsockets),
    dbConnections: new Trend(M.dbConnections),
    counters,
    tx,
    requests: new Counter(M.requests),
  };
}
