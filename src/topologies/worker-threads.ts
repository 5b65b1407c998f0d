// The threaded-server analogue (Odoo --workers=0, 12.0+): one process whose main thread
// accepts connections and runs every request on a piscina pool of request threads, one
// request per thread at a time; --threads caps them (default half the pool, Odoo's
// db_maxconn // 2). The main thread is the process's bus dispatcher, as Odoo's is its own
// thread: it holds the one LISTEN connection and the parked polls. A poll runs on a request
// thread up to parking (validation, presence write, first fetch), then waits in the main
// thread, holding no thread and no connection; each fetch after a wake-up runs on a request
// thread like any request. The threads' pools are equal shares of the one
// --pool-size pool, so the process holds at most pool + 1 LISTEN connections.
// --poll-holds-thread models a fixed-thread-pool server instead (Odoo 12+ without its
// daemon poll threads): a parked poll keeps its thread, so --threads bounds concurrent polls
// and later requests queue (busbench_queued_requests); the main thread then relays each
// NOTIFY to the threads.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AppRequest,
  type AppResponse,
  answerPoll,
  errorResponse,
  type SocketAnswer,
  type SocketCall,
} from '../app/app.js';
import { Bus, type BusFetch } from '../app/bus.js';
import { createHttpServer } from '../app/http-server.js';
import { aggregateMetrics, Metrics } from '../app/metrics.js';
import { createListener } from '../app/stack.js';
import { createWebSocketEndpoint } from '../app/websocket.js';
import { HttpError } from '../lib/errors.js';
import { origin } from '../lib/net.js';
import { type RequestThreads, requestThreads, startRequestThreads, threadPoolSize } from './threads/pool.js';
import type { Topology } from './topology.js';

export const workerThreads: Topology = {
  name: 'worker-threads',
  description:
    'one process; the main thread accepts and dispatches the bus, a piscina pool of request threads runs requests',
  budget(config) {
    const threads = requestThreads(config);
    const share = threadPoolSize(config);
    const total = threads * share + 1;
    return {
      pools: threads,
      poolSize: share,
      listen: 1,
      total,
      summary: `${threads} threads x ${share} pool (shares of --pool-size ${config.poolSize}) + 1 LISTEN = ${total}`,
    };
  },
  async start(config) {
    const metrics = new Metrics(config.topology, 'main', { defaultMetrics: true });
    const threads = await startRequestThreads(config, metrics);
    // The main thread's bus: the dispatcher of parked polls and, in either mode, of websockets,
    // which live in the main thread and, like a parked poll there, hold no request thread.
    const bus = new Bus(fetchOnThread(threads), config, metrics);
    const dispatcher = config.pollHoldsThread ? undefined : bus;
    const listener = createListener(
      config,
      0,
      metrics,
      dispatcher ?? {
        wake: (channels) => {
          threads.wake(channels);
          bus.wake(channels);
        },
        wakeAll: () => {
          threads.wake('all');
          bus.wakeAll();
        },
      },
    );
    let nextTaskId = 1;
    const handle = async (request: AppRequest, hungUp: AbortSignal): Promise<AppResponse> => {
      // Taken before the thread runs the poll's first fetch: a NOTIFY for a row that fetch
      // missed comes after it, and wakes the poll as soon as it parks.
      const mark = dispatcher?.mark();
      try {
        const result = await threads.run({ type: 'request', id: nextTaskId++, request }, hungUp);
        if (result.type === 'answer') return result.response;
        if (result.type === 'park' && dispatcher) return answerPoll(dispatcher, result.wait, hungUp, mark);
        throw new Error(`unreachable: a request task answered ${result.type}`);
      } catch (err) {
        return errorResponse(err, 'unmatched');
      }
    };
    const websocket = createWebSocketEndpoint({
      host: { call: (call) => callOnThread(threads, call), bus },
      metrics,
      pingIntervalMs: config.wsPingInterval * 1000,
    });
    const http = createHttpServer({
      config,
      metrics,
      handle,
      websocket,
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
        bus.close();
        threads.stopPolls();
        await threads.settle();
        await Promise.race([closed, sleep(1000)]);
        http.server.closeAllConnections();
        await threads.close();
        await listener.close();
      },
    };
  },
};

/** A websocket frame's database work, run on a request thread like a poll's. */
async function callOnThread(threads: RequestThreads, call: SocketCall): Promise<SocketAnswer> {
  const result = await threads.run({ type: 'socket', call });
  if (result.type === 'socket') return result.answer;
  throw new Error(`unreachable: a socket task answered ${result.type}`);
}

/** The dispatcher's fetches: the bus query, run on a request thread's pool. */
function fetchOnThread(threads: RequestThreads): BusFetch {
  return async (channels, last, reason) => {
    const result = await threads.run({ type: 'fetch', channels: [...channels], last, reason });
    if (result.type === 'rows') return result.rows;
    if (result.type === 'failed') throw new HttpError(result.error.code, result.error.message, result.error.field);
    throw new Error(`unreachable: a fetch task answered ${result.type}`);
  };
}
