// The Node runner's live figures under the names k6's Prometheus remote-write output uses
// (k6_vus, k6_http_reqs_total, k6_<trend>_p99 in seconds...), so one Grafana dashboard shows
// a k6 run and a `busbench bench` run alike. Like k6's output, p99s cover the run so far.
import type { Histogram } from 'hdr-histogram-js';
import client from 'prom-client';
import { LOAD_METRICS } from '../../loadtests/lib/load-metrics.js';
import { newHistogram, recordMs } from './histogram.js';
import { type MetricsServer, serveMetrics } from './metrics-server.js';
import type { Runner, RunnerObserver } from './runner.js';

export interface LoadLabels {
  testid: string;
  topology: string;
  profile: string;
}

const p99Seconds = (h: Histogram) => (h.totalCount === 0 ? 0 : h.getValueAtPercentile(99) / 1e6);

class LoadMetrics implements RunnerObserver {
  readonly registry = new client.Registry();
  readonly #requests: client.Counter<'endpoint' | 'status'>;
  readonly #durations = new Map<string, Histogram>();
  readonly #delivery = newHistogram();
  readonly #duplicates: client.Counter;
  readonly #finalFailures: client.Counter;
  readonly #polls: client.Counter<'result'>;
  #answered = 0;
  #failed = 0;

  constructor(runner: Runner, labels: LoadLabels) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ ...labels });
    const gauge = (name: string, help: string, collect: () => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(collect());
        },
      });
    const counter = (name: string, help: string) => {
      const c = new client.Counter({ name, help, registers });
      c.inc(0);
      return c;
    };
    gauge('k6_vus', 'Simulated browsers open (a k6 VU is one browser)', () => runner.browsers);
    gauge(`k6_${LOAD_METRICS.tabs}`, 'Simulated tabs open', () => runner.tabs);
    this.#requests = new client.Counter({
      name: 'k6_http_reqs_total',
      help: 'Requests answered or failed, by endpoint and status (0: no answer)',
      labelNames: ['endpoint', 'status'],
      registers,
    });
    const durations = this.#durations;
    new client.Gauge({
      name: 'k6_http_req_duration_p99',
      help: 'p99 request duration since the start, by endpoint (seconds; parked polls included)',
      labelNames: ['endpoint'],
      registers,
      collect() {
        for (const [endpoint, h] of durations) this.set({ endpoint }, p99Seconds(h));
      },
    });
    gauge('k6_http_req_failed_rate', 'Share of requests that failed (no answer, 4xx or 5xx)', () =>
      this.#answered === 0 ? 0 : this.#failed / this.#answered,
    );
    gauge(`k6_${LOAD_METRICS.deliveryLatency}_p99`, 'p99 from post due time to arrival in a tab (seconds)', () =>
      p99Seconds(this.#delivery),
    );
    const lost = counter(`k6_${LOAD_METRICS.lost}_total`, 'Posts a tab provably missed (counted when the run ends)');
    this.#duplicates = counter(`k6_${LOAD_METRICS.duplicated}_total`, 'Arrivals of a post beyond the first in a tab');
    this.#finalFailures = counter(`k6_${LOAD_METRICS.finalFailures}_total`, 'Posts whose final answer was not 201');
    this.#polls = new client.Counter({
      name: `k6_${LOAD_METRICS.polls}_total`,
      help: 'Answered polls, with notifications (data) or without (empty)',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['empty', 'data']) this.#polls.inc({ result }, 0);
    this.lost = (n: number) => lost.inc(n);
  }

  /** Lost posts are only known when the run's delivery check runs at the end. */
  readonly lost: (n: number) => void;

  request(endpoint: string, status: number, ms: number): void {
    this.#requests.inc({ endpoint, status: String(status) });
    this.#answered++;
    if (status === 0 || status >= 400) this.#failed++;
    let h = this.#durations.get(endpoint);
    if (!h) {
      h = newHistogram();
      this.#durations.set(endpoint, h);
    }
    recordMs(h, ms);
  }

  poll(withData: boolean): void {
    this.#polls.inc({ result: withData ? 'data' : 'empty' });
  }

  delivered(latencyMs: number): void {
    recordMs(this.#delivery, latencyMs);
  }

  duplicate(): void {
    this.#duplicates.inc();
  }

  postFailed(): void {
    this.#finalFailures.inc();
  }
}

/** Serves `runner`'s live figures at GET /metrics until closed; call `finish` with the final delivery check. */
export async function serveLoadMetrics(
  runner: Runner,
  labels: LoadLabels,
  options: { host?: string; port?: number } = {},
): Promise<MetricsServer & { finish(lost: number): void }> {
  const metrics = new LoadMetrics(runner, labels);
  runner.observe(metrics);
  const server = await serveMetrics(metrics.registry, options);
  return { ...server, finish: (lost) => metrics.lost(lost) };
}
