// The threaded-server analogue (Odoo --workers=0): the main thread accepts connections and
// hands each request to a piscina pool of worker threads, one request per thread at a time.
// A parked poll occupies its thread, so --threads bounds concurrent polls: the rest queue
// (busbench_queued_requests) exactly as they queue for a thread in Odoo. The main thread
// holds the process's one LISTEN connection and relays each NOTIFY to the threads as a
// wake-up; every thread has its own pool, so the database sees threads x pool + 1 connections.
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpServer } from '../app/http-server.js';
import { aggregateMetrics, Metrics } from '../app/metrics.js';
import { createListener } from '../app/stack.js';
import { origin } from '../lib/net.js';
import { startRequestThreads } from './threads/pool.js';
import { budget, type Topology } from './topology.js';

export const workerThreads: Topology = {
  name: 'worker-threads',
  description:
    'one process; the main thread accepts, a piscina pool of threads runs requests (a parked poll holds a thread)',
  budget: (config) => budget(config.threads, 'threads', config.poolSize, 1),
  async start(config) {
    const metrics = new Metrics(config.topology, 'main', { defaultMetrics: true });
    const threads = await startRequestThreads(config, metrics);
    const listener = createListener(config, 0, metrics, {
      wake: (channels) => threads.wake(channels),
      wakeAll: () => threads.wake('all'),
    });
    const http = createHttpServer({
      config,
      metrics,
      handle: (req, hungUp) => threads.handle(req, hungUp),
      layoutMetrics: async () =>
        aggregateMetrics([await metrics.registry.getMetricsAsJSON(), ...(await threads.collectMetrics())]),
    });
    let port: number;
    try {
      await listener.start();
      port = await http.listen(config.port, config.host);
    } catch (err) {
      await listener.close();
      await threads.close();
      throw err;
    }
    return {
      url: origin(config.host, port),
      busUrl: null,
      async close() {
        const closed = http.close();
        await threads.drain();
        await Promise.race([closed, sleep(1000)]);
        http.server.closeAllConnections();
        await threads.close();
        await listener.close();
      },
    };
  },
};
