// GET /metrics of a layout over one kept-alive connection, parsed: the scraper adds exactly
// one socket to the server's count, which the sampler and the browser bench both rely on.
import { Pool } from 'undici';
import { type PromSample, parsePrometheusText } from '../../loadtests/lib/prometheus-text.js';

export class MetricsScraper {
  readonly #pool: Pool;
  readonly #path: string;

  constructor(metricsUrl: string) {
    const url = new URL(metricsUrl);
    this.#pool = new Pool(url.origin, { connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
    this.#path = url.pathname;
  }

  async scrape(): Promise<PromSample[]> {
    const res = await this.#pool.request({ path: this.#path, method: 'GET' });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${this.#path} answered ${res.statusCode}`);
    return parsePrometheusText(text);
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }
}
