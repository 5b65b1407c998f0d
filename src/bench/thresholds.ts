// `--threshold` expressions, k6-style ("delivery_p99_ms<1000", "lost==0"): parsed when the
// flags are read, so a typo is a usage error before any case runs, and evaluated on every
// valid case once the run is measured. A broken one makes `busbench bench` exit 99, as k6 does.
import { errors } from '../lib/errors.js';
import type { CaseResult, ThresholdResult } from './results.js';

interface Metric {
  doc: string;
  value: (c: CaseResult) => number | null;
}

const app = (c: CaseResult) => c.totals.database.app.total;

/** Every metric a threshold may name; the README's table is generated from it. */
export const THRESHOLD_METRICS: Record<string, Metric> = {
  failures_per_1k: {
    doc: 'failed attempts (40001, 40P01, 55P03, retries included) per 1,000 commits',
    value: (c) => c.totals.derived.failures_per_1000_tx,
  },
  final_failures_per_1k: {
    doc: "failed transactions (pgbench's: failed for good) per 1,000 commits",
    value: (c) => c.totals.derived.final_failures_per_1000_tx,
  },
  failed_attempts: {
    doc: 'failed attempts, retries included (what pg_stat_database.xact_rollback counts)',
    value: (c) => app(c).serialization_failures + app(c).deadlocks + app(c).lock_not_available,
  },
  retries: { doc: 'pgbench\'s "total number of retries"', value: (c) => app(c).retries },
  retried_transactions: {
    doc: 'pgbench\'s "number of transactions retried" (retried at least once)',
    value: (c) => app(c).retried ?? null,
  },
  failed_transactions: {
    doc: 'pgbench\'s "number of failed transactions": units of work that never committed',
    value: (c) => app(c).final_failures,
  },
  commits: { doc: 'transactions committed by the app in the window', value: (c) => app(c).commits },
  lost: { doc: 'deliveries provably lost', value: (c) => c.totals.delivery.lost },
  pending: { doc: 'deliveries still missing when the run ended', value: (c) => c.totals.delivery.pending },
  duplicated: { doc: 'deliveries beyond the first of a message in a tab', value: (c) => c.totals.delivery.duplicated },
  posts_failed: { doc: 'posts not answered 201', value: (c) => c.totals.delivery.posts_failed },
  delivery_p50_ms: {
    doc: 'delivery latency p50, from the due time',
    value: (c) => c.totals.delivery.latency_ms.p50,
  },
  delivery_p99_ms: {
    doc: 'delivery latency p99, from the due time',
    value: (c) => c.totals.delivery.latency_ms.p99,
  },
  delivery_max_ms: { doc: 'delivery latency max', value: (c) => c.totals.delivery.latency_ms.max },
  post_p99_ms: { doc: 'post latency p99, from the due time', value: (c) => c.totals.client.post_latency_ms.p99 },
  db_connections_peak: {
    doc: 'peak database connections of the layout',
    value: (c) => c.totals.database.peak_connections,
  },
  db_connections_per_1k_tabs: {
    doc: 'peak database connections per 1,000 tabs',
    value: (c) => c.totals.derived.db_connections_per_1000_tabs,
  },
  http_connections_peak: {
    doc: 'peak client HTTP connections',
    value: (c) => c.totals.client.http_connections_peak,
  },
  late_posts: { doc: 'posts the generator sent late', value: (c) => c.totals.client.behind_schedule.late_posts },
  generator_cpu_percent: {
    doc: "the load generator's CPU, 100 = one core",
    value: (c) => c.generator?.cpu_percent ?? null,
  },
};

const OPERATORS = ['<=', '>=', '==', '!=', '<', '>'] as const;
type Operator = (typeof OPERATORS)[number];

const HOLDS: Record<Operator, (value: number, limit: number) => boolean> = {
  '<': (v, l) => v < l,
  '<=': (v, l) => v <= l,
  '>': (v, l) => v > l,
  '>=': (v, l) => v >= l,
  '==': (v, l) => v === l,
  '!=': (v, l) => v !== l,
};

export interface Threshold {
  expression: string;
  metric: string;
  operator: Operator;
  limit: number;
}

const EXPRESSION = /^([a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9][0-9_]*(?:\.[0-9]+)?)$/;

/** One expression, or an E_CONFIG error saying what is wrong with it. */
export function parseThreshold(raw: string, name = '--threshold'): Threshold {
  const expression = raw.trim();
  const found = EXPRESSION.exec(expression);
  if (!found) {
    throw errors.config(
      name,
      `"${expression}" is not <metric><operator><number> with an operator of ${OPERATORS.join(' ')} (e.g. "lost==0")`,
    );
  }
  const [, metric = '', operator = '==', number = ''] = found;
  if (!(metric in THRESHOLD_METRICS)) {
    throw errors.config(
      name,
      `names no metric "${metric}"; the metrics are ${Object.keys(THRESHOLD_METRICS).join(', ')}`,
    );
  }
  return {
    expression: `${metric}${operator}${number}`,
    metric,
    operator: operator as Operator,
    limit: Number(number.replace(/_/g, '')),
  };
}

/** A comma-separated list (the flag may also be repeated: its values arrive joined by commas). */
export function parseThresholds(raw: string, name: string): Threshold[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parseThreshold(s, name));
}

/**
 * Each threshold on each case. A case without the figure (a null rate) cannot break it, as k6
 * passes a threshold of a metric with no sample; invalid cases are not passed in at all.
 */
export function evaluateThresholds(thresholds: Threshold[], cases: CaseResult[]): ThresholdResult[] {
  return cases.flatMap((c) =>
    thresholds.map((t) => {
      const value = THRESHOLD_METRICS[t.metric]?.value(c) ?? null;
      return { expression: t.expression, case: c.id, value, ok: value === null || HOLDS[t.operator](value, t.limit) };
    }),
  );
}

/** "lost==0 in cluster-fork (2)" for each broken threshold. */
export function brokenThresholds(results: ThresholdResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `${r.expression} in ${r.case} (${r.value})`);
}
