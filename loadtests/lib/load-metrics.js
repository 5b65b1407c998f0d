// The load generator's live metrics, named once for both engines. The k6 scripts create them
// as k6 custom metrics, and k6's Prometheus remote-write output names them k6_<name>_total
// (Counter), k6_<name>_p99 (Trend, in seconds) or k6_<name> (Gauge). The Node runner exports
// the same Prometheus names (src/bench/load-metrics.ts), so the "k6" dashboard shows either engine.

export const LOAD_METRICS = {
  /** Gauge: tabs open (k6's own `vus` counts browsers). */
  tabs: 'busbench_tabs',
  /** Trend (time): from a post's due time to its arrival in a tab. */
  deliveryLatency: 'busbench_delivery_latency',
  /** Counter: posts that never reached a tab whose cursor went past them. */
  lost: 'busbench_lost_messages',
  /** Counter: arrivals of a post beyond the first in one tab. */
  duplicated: 'busbench_duplicate_messages',
  /** Counter: posts whose final answer was not 201 (the user saw the failure). */
  finalFailures: 'busbench_final_failures',
  /** Counter, tag result = empty | data: answered polls, with notifications or without. */
  polls: 'busbench_polls',
};
