// What the layout says while real tabs are open: parked polls, client sockets, open
// websockets, presence writes, 40001s and failed polls, from its /metrics.
import { total } from '../../loadtests/lib/numbers.js';
import { byLabel, sum } from '../../loadtests/lib/prometheus-text.js';
import { MetricsScraper } from './metrics-scraper.js';

export interface ServerView {
  parkedPolls: number;
  /** Client sockets, this reader's own connection left out. */
  openSockets: number;
  /** Of those, upgraded to websockets on /websocket (busbench_ws_open_sockets). */
  openWebsockets: number;
  presenceWrites: number;
  serializationFailures: number;
  /** Polls answered with something else than 200 (409: presence conflicts outlasted the retries), by status. */
  failedPolls: Record<string, number>;
}

/** Reads the layout's /metrics, leaving the scraper's own connection out of the socket count. */
export class MetricsReader {
  readonly #scraper: MetricsScraper;

  constructor(metricsUrl: string) {
    this.#scraper = new MetricsScraper(metricsUrl);
  }

  async read(): Promise<ServerView> {
    const samples = await this.#scraper.scrape();
    const commits = byLabel(samples, 'busbench_tx_commits_total', 'endpoint');
    return {
      parkedPolls: sum(samples, 'busbench_bus_parked_polls'),
      openSockets: sum(samples, 'busbench_http_open_sockets') - 1,
      openWebsockets: sum(samples, 'busbench_ws_open_sockets'),
      presenceWrites: total(
        Object.entries(commits)
          .filter(([endpoint]) => endpoint.startsWith('presence.'))
          .map(([, v]) => v),
      ),
      serializationFailures: sum(samples, 'busbench_tx_failures_total', { sqlstate: '40001' }),
      failedPolls: Object.fromEntries(
        Object.entries(
          byLabel(
            samples.filter((s) => s.labels.endpoint === 'bus.poll' && s.labels.status !== '200'),
            'busbench_http_requests_total',
            'status',
          ),
        ).filter(([, n]) => n > 0),
      ),
    };
  }

  close(): Promise<void> {
    return this.#scraper.close();
  }
}
