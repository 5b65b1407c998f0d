// The figures derived from a case's totals and the warnings a reader must not miss, for
// both engines: `busbench bench` and the k6 scripts' handleSummary write the same run.json.
import { LATE_TOLERANCE_MS } from './load-plan.js';
import { rate, total } from './numbers.js';

/**
 * @typedef {import('../../src/bench/results.js').CaseTotals} CaseTotals
 */

/**
 * @param {Pick<CaseTotals, 'client' | 'delivery' | 'server' | 'database'>} t
 * @param {number} seconds Measured seconds.
 * @returns {CaseTotals['derived']}
 */
export function derive(t, seconds) {
  const app = t.database.app.total;
  const failed = app.serialization_failures + app.deadlocks + app.lock_not_available;
  const requests = total(
    Object.values(t.client.requests).reduce(
      (all, byStatus) => all.concat(Object.values(byStatus)),
      /** @type {number[]} */ ([]),
    ),
  );
  return Object.assign(
    {
      failures_per_1000_tx: rate(failed, app.commits, 1000),
      final_failures_per_1000_tx: rate(app.final_failures, app.commits, 1000),
      db_connections_per_1000_tabs: rate(t.database.peak_connections, t.client.tabs, 1000),
      http_connections_per_tab: rate(t.client.http_connections_peak, t.client.tabs),
      requests_per_second: rate(requests, seconds),
    },
    transportFigures(t),
  );
}

/**
 * Below this many held connections the RSS growth is the heap and JIT warming up, not the
 * connections (12 idle websockets "cost" 600 KB each here): no per-connection figure.
 */
export const MIN_HELD_FOR_MEMORY = 1000;

/**
 * What the transports are compared on, where the run measured it: the layout's sockets per
 * 1,000 tabs, and the memory each held connection (open websocket or parked poll) costs.
 * @param {Pick<CaseTotals, 'client' | 'server'>} t
 * @returns {Partial<CaseTotals['derived']>}
 */
function transportFigures(t) {
  const s = t.server;
  /** @type {Partial<CaseTotals['derived']>} */
  const out = { server_sockets_per_1000_tabs: rate(s.peak_open_sockets, t.client.tabs, 1000) };
  if (s.peak_open_websockets !== undefined) {
    out.websockets_per_1000_tabs = rate(s.peak_open_websockets, t.client.tabs, 1000);
  }
  if (s.rss_growth_bytes !== undefined && s.mean_held_connections !== undefined) {
    const growth = s.rss_growth_bytes;
    const held = s.mean_held_connections;
    out.rss_bytes_per_connection =
      growth === null || growth <= 0 || held < MIN_HELD_FOR_MEMORY ? null : rate(growth, held);
  }
  return out;
}

/**
 * What makes the figures suspect or shows a bug, in plain sentences.
 * @param {CaseTotals} t
 * @returns {string[]}
 */
export function caseWarnings(t) {
  /** @type {string[]} */
  const out = [];
  const b = t.client.behind_schedule;
  if (b.late_posts > 0) {
    out.push(
      `the load generator fell behind schedule: ${b.late_posts} posts sent over ${LATE_TOLERANCE_MS} ms late (max ${b.max_lag_ms} ms); latencies are from due times`,
    );
  }
  const d = t.delivery;
  if (d.lost > 0) out.push(`${d.lost} of ${d.expected} expected deliveries were lost`);
  if (d.pending > 0) {
    out.push(
      `${d.pending} of ${d.expected} expected deliveries had not arrived when the run ended (polls still queued)`,
    );
  }
  if (d.duplicated > 0) out.push(`${d.duplicated} deliveries were duplicates`);
  if (d.out_of_order > 0) out.push(`${d.out_of_order} deliveries arrived out of order`);
  if (d.posts_failed > 0) out.push(`${d.posts_failed} posts failed or were still unanswered when the run ended`);
  let failedRequests = 0;
  for (const byStatus of Object.values(t.client.requests)) {
    for (const status of Object.keys(byStatus)) {
      if (status === 'error' || Number(status) >= 500) failedRequests += byStatus[status] || 0;
    }
  }
  if (failedRequests > 0) out.push(`${failedRequests} requests got a 5xx or no answer`);
  return out;
}
