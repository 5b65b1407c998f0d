// One case out of the run.json files of a distributed k6 run (`--k6-instances N`, or N
// k6-operator pods): each instance ran one execution segment, so its browsers, tabs, posts
// and delivery check are its own and the counters add up. k6's summary holds no histogram,
// so percentiles cannot be merged exactly: count, mean and max are (they add up or take the
// larger), each percentile is the worst instance's, and the case says so.
import { caseWarnings, derive } from '../../loadtests/lib/case-figures.js';
import { round, total } from '../../loadtests/lib/numbers.js';
import { errors } from '../lib/errors.js';
import type { CaseResult, CaseTotals, EndpointTx, Percentiles, RunFile } from './results.js';

export const MERGED_PERCENTILES_WARNING =
  'k6 instances merged: counts, means and maxima are exact; p50-p99.9 are the worst instance’s (k6 exports no histogram)';

const sumOf = (values: number[]) => total(values);
const maxOf = (values: number[]) => Math.max(0, ...values);

/** Exact count, mean and max; percentiles the worst (largest) instance's. */
export function mergePercentiles(parts: Percentiles[]): Percentiles {
  const recorded = parts.filter((p) => p.count > 0);
  const count = sumOf(recorded.map((p) => p.count));
  if (count === 0) return { count: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null };
  const worst = (key: 'p50' | 'p90' | 'p99' | 'p999' | 'max') => maxOf(recorded.map((p) => p[key] ?? 0));
  return {
    count,
    mean: round(sumOf(recorded.map((p) => (p.mean ?? 0) * p.count)) / count, 3),
    p50: worst('p50'),
    p90: worst('p90'),
    p99: worst('p99'),
    p999: worst('p999'),
    max: worst('max'),
  };
}

function mergeTx(parts: EndpointTx[]): EndpointTx {
  const keys = Object.keys(parts[0] ?? {}) as (keyof EndpointTx)[];
  // A count one instance lacks (a run before it was counted) is unknown for the whole, not a partial sum.
  const known = keys.filter((k) => parts.every((p) => p[k] !== undefined));
  return Object.fromEntries(known.map((k) => [k, sumOf(parts.map((p) => p[k] ?? 0))])) as unknown as EndpointTx;
}

function mergeRequests(parts: CaseTotals['client']['requests'][]): CaseTotals['client']['requests'] {
  const out: CaseTotals['client']['requests'] = {};
  for (const part of parts) {
    for (const [endpoint, byStatus] of Object.entries(part)) {
      const into = out[endpoint] ?? {};
      out[endpoint] = into;
      for (const [status, n] of Object.entries(byStatus)) into[status] = (into[status] ?? 0) + n;
    }
  }
  return out;
}

/**
 * Client and delivery figures add up across instances (peaks per browser take the larger).
 * Server and database figures come from the one instance that ran the sampler (the others
 * report none), so adding them keeps that instance's; their peaks take the larger.
 */
export function mergeTotals(parts: CaseTotals[], measuredSeconds: number): CaseTotals {
  const client = parts.map((p) => p.client);
  const delivery = parts.map((p) => p.delivery);
  const db = parts.map((p) => p.database);
  const merged: Omit<CaseTotals, 'derived'> = {
    client: {
      tabs: sumOf(client.map((c) => c.tabs)),
      browsers: sumOf(client.map((c) => c.browsers)),
      http_connections_opened: sumOf(client.map((c) => c.http_connections_opened)),
      // The server's socket count (k6 cannot see across VUs), read by the sampler instance.
      http_connections_peak: maxOf(client.map((c) => c.http_connections_peak)),
      http_connections_peak_per_browser: maxOf(client.map((c) => c.http_connections_peak_per_browser)),
      queued_requests_peak: maxOf(client.map((c) => c.queued_requests_peak)),
      requests: mergeRequests(client.map((c) => c.requests)),
      poll_latency_ms: mergePercentiles(client.map((c) => c.poll_latency_ms)),
      post_latency_ms: mergePercentiles(client.map((c) => c.post_latency_ms)),
      behind_schedule: {
        late_posts: sumOf(client.map((c) => c.behind_schedule.late_posts)),
        max_lag_ms: maxOf(client.map((c) => c.behind_schedule.max_lag_ms)),
      },
    },
    delivery: {
      posts: sumOf(delivery.map((d) => d.posts)),
      posts_failed: sumOf(delivery.map((d) => d.posts_failed)),
      expected: sumOf(delivery.map((d) => d.expected)),
      delivered: sumOf(delivery.map((d) => d.delivered)),
      lost: sumOf(delivery.map((d) => d.lost)),
      pending: sumOf(delivery.map((d) => d.pending)),
      duplicated: sumOf(delivery.map((d) => d.duplicated)),
      out_of_order: sumOf(delivery.map((d) => d.out_of_order)),
      latency_ms: mergePercentiles(delivery.map((d) => d.latency_ms)),
    },
    server: {
      peak_open_sockets: maxOf(parts.map((p) => p.server.peak_open_sockets)),
      peak_parked_polls: maxOf(parts.map((p) => p.server.peak_parked_polls)),
      processes: parts.flatMap((p) => p.server.processes),
    },
    database: {
      connections_by_app: db.flatMap((d) => d.connections_by_app),
      peak_connections: maxOf(db.map((d) => d.peak_connections)),
      mean_connections: maxOf(db.map((d) => d.mean_connections)),
      commits: sumOf(db.map((d) => d.commits)),
      rollbacks: sumOf(db.map((d) => d.rollbacks)),
      deadlocks: sumOf(db.map((d) => d.deadlocks)),
      app: { total: mergeTx(db.map((d) => d.app.total)), by_endpoint: {} },
    },
  };
  return { ...merged, derived: derive(merged, measuredSeconds) };
}

/**
 * The instances' cases as one: totals merged, the warnings recomputed on the merged totals,
 * and each instance's own warnings (k6's limits, a failed history read) kept once each.
 */
export function mergeK6Cases(parts: CaseResult[]): CaseResult {
  const [first] = parts;
  if (!first) throw new Error('no k6 instance wrote a case');
  const totals = mergeTotals(
    parts.map((p) => p.totals),
    first.measured_seconds,
  );
  const own = new Set<string>();
  parts.forEach((p, i) => {
    const generic = new Set(caseWarnings(p.totals));
    for (const w of p.warnings) {
      if (generic.has(w)) continue;
      // Only the sampler's instance reads the database; the others' "no database figures" is not the run's.
      if (w.startsWith('no database figures') && totals.database.peak_connections > 0) continue;
      own.add(w.startsWith('k6 run:') ? w : `instance ${i + 1}: ${w}`);
    }
  });
  return {
    ...first,
    totals,
    warnings: [...caseWarnings(totals), ...own, `${MERGED_PERCENTILES_WARNING} (${parts.length} instances)`],
  };
}

/** The instances' run.json files as one run of one case (the first instance's run, merged totals). */
export function mergeK6Runs(runs: RunFile[]): RunFile {
  const [first] = runs;
  if (!first) throw errors.badRun('k6-merge', 'needs at least one run.json folder');
  const cases = runs.map((r, i) => {
    if (r.engine !== 'k6' || r.cases.length !== 1 || !r.cases[0]) {
      throw errors.badRun(
        `run ${i + 1}`,
        `is not one k6 instance's run.json (engine ${r.engine}, ${r.cases.length} cases): pass each instance's folder`,
      );
    }
    return r.cases[0];
  });
  const finished = runs.map((r) => r.finished_at).sort();
  return { ...first, finished_at: finished.at(-1) ?? first.finished_at, cases: [mergeK6Cases(cases)] };
}
