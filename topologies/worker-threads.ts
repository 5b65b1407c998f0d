// The threaded-server analogue (Odoo --workers=0): the main thread accepts connections and
// hands each request to a piscina pool of worker threads, one request per thread at a time.
// A parked poll occupies its thread, so --threads bounds concurrent polls: the rest queue
// (busbench_queued_requests) exactly as they queue for a thread in Odoo. The main thread
// holds the process's one LISTEN connection and relays notifications to the threads; every
// thread has its own pool, so the database sees threads x pool + 1 connections.
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { AppRequest, AppResponse } from '../src/app.js';
import { respond } from '../src/app.js';
import { errors } from '../src/errors.js';
import { createHttpServer } from '../src/http-server.js';
import { aggregateMetrics, Metrics } from '../src/metrics.js';
import { createListener } from '../src/serving.js';
import { THREAD_CHANNEL, type ThreadCommand, type ThreadReply } from '../src/thread-messages.js';
import { budget, origin, type Topology } from '../src/topology.js';

const THREAD_TASK = new URL('../src/thread-task.js', import.meta.url).href;

export const workerThreads: Topology = {
  name: 'worker-threads',
  description:
    'one process; the main thread accepts, a piscina pool of threads runs requests (a parked poll holds a thread)',
  budget: (config) => budget(config.threads, 'threads', config.poolSize, 1),
  async start(config) {
    const metrics = new Metrics(config.topology, 'main', { defaultMetrics: true });
    const channel = new BroadcastChannel(THREAD_CHANNEL);
    let nextId = 1;
    const command = (c: ThreadCommand) => channel.postMessage(c);

    const asks = new Map<number, (reply: ThreadReply) => void>();
    let readyThreads = 0;
    let threadsReady = () => {};
    const allReady = new Promise<void>((resolve) => {
      threadsReady = resolve;
    });
    channel.onmessage = (event) => {
      const reply = (event as { data: ThreadReply }).data;
      if (reply.type === 'ready' && ++readyThreads === config.threads) threadsReady();
      asks.get(reply.id)?.(reply);
    };

    /** Sends a command to every thread and gathers the replies that come in time. */
    function ask(type: 'collect' | 'close', timeoutMs: number): Promise<ThreadReply[]> {
      const id = nextId++;
      const replies: ThreadReply[] = [];
      return new Promise((done) => {
        const finish = () => {
          clearTimeout(timer);
          asks.delete(id);
          done(replies);
        };
        const timer = setTimeout(finish, timeoutMs);
        asks.set(id, (reply) => {
          replies.push(reply);
          if (replies.length === config.threads) finish();
        });
        command({ type, id });
      });
    }

    const listener = createListener(config, 0, metrics, {
      notify: (channels) => command({ type: 'notify', channels: channels === 'all' ? 'all' : [...channels] }),
      wakeAll: () => command({ type: 'notify', channels: 'all' }),
    });
    await listener.start();

    const pool = new Piscina<AppRequest, AppResponse>({
      filename: THREAD_TASK,
      minThreads: config.threads,
      maxThreads: config.threads,
      concurrentTasksPerWorker: 1,
      // The default ('sync') parks an idle thread in Atomics.wait, freezing its event loop:
      // its pool sockets and relayed notifications would stall between tasks.
      atomics: 'disabled',
      idleTimeout: Number.POSITIVE_INFINITY,
      maxQueue: config.maxParked,
      workerData: { config },
    });
    metrics.queuedRequests.set({ process: 'main' }, 0);
    let inFlight = 0;

    async function handle(req: AppRequest): Promise<AppResponse> {
      inFlight++;
      const task = pool.run(req);
      // Sampled after run() so the gauge includes this request when no thread was free.
      metrics.queuedRequests.set({ process: 'main' }, pool.queueSize);
      try {
        return await task;
      } catch (err) {
        const e = /queue is at limit/i.test((err as Error).message)
          ? errors.busy(`all ${config.threads} threads are busy and ${config.maxParked} requests are queued`)
          : errors.internal();
        if (e.code === 'E_INTERNAL') console.error('[busbench] thread task failed:', err);
        return respond(e.status, 'unmatched', e.toJSON(), { 'retry-after': String(e.retryAfter ?? 1) });
      } finally {
        inFlight--;
        metrics.queuedRequests.set({ process: 'main' }, pool.queueSize);
      }
    }

    const http = createHttpServer({
      config,
      metrics,
      handle,
      layoutMetrics: async () => {
        const parts = await ask('collect', 2000);
        return aggregateMetrics([
          await metrics.registry.getMetricsAsJSON(),
          ...parts.flatMap((p) => (p.type === 'metrics' ? [p.metrics] : [])),
        ]);
      },
    });
    let port: number;
    try {
      const timedOut = sleep(30_000, undefined, { ref: false }).then(() => {
        throw new Error(`only ${readyThreads} of ${config.threads} threads started in 30 s`);
      });
      await Promise.race([allReady, timedOut]);
      port = await http.listen(config.port, config.host);
    } catch (err) {
      await pool.destroy();
      await listener.close();
      channel.close();
      throw err;
    }

    return {
      url: origin(config.host, port),
      busUrl: null,
      async close() {
        const closed = http.close();
        command({ type: 'stop-polls' });
        for (let waited = 0; inFlight > 0 && waited < 10_000; waited += 50) await sleep(50);
        await Promise.race([closed, sleep(1000)]);
        http.server.closeAllConnections();
        await ask('close', 5000);
        await pool.destroy();
        await listener.close();
        channel.close();
      },
    };
  },
};
