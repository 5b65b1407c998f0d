// A bare GET /metrics server for the exporters that run beside a layout (the database
// exporter, the Node runner's load metrics). Layouts serve their own /metrics through the app.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type client from 'prom-client';
import { origin } from '../lib/net.js';

export interface MetricsServer {
  /** Origin; the metrics are at `${url}/metrics`. */
  url: string;
  close(): Promise<void>;
}

/** `prepare` runs before each scrape, for exporters that read their figures at scrape time. */
export async function serveMetrics(
  registry: client.Registry,
  options: { host?: string; port?: number; prepare?: () => Promise<void> },
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'E_NOT_FOUND', message: 'only GET /metrics is served here' } }));
      return;
    }
    void (options.prepare?.() ?? Promise.resolve())
      .then(() => registry.metrics())
      .then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: origin(address, port),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
