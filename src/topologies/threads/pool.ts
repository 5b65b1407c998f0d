// The piscina pool behind worker-threads, seen from the main thread: it runs each request
// on a thread (one at a time per thread, as a threaded server does), relays wake-ups
// to every thread, gathers their metrics, and drains them on shutdown. The thread side is
// task.ts; they talk over one BroadcastChannel (messages.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { AppRequest, AppResponse } from '../../app/app.js';
import { errorResponse } from '../../app/app.js';
import type { Metrics, MetricsJson } from '../../app/metrics.js';
import { errors } from '../../lib/errors.js';
import type { Config } from '../../lib/server-options.js';
import { THREAD_CHANNEL, type ThreadCommand, type ThreadReply, type ThreadTask } from './messages.js';
import { armThreadKill } from './thread-kill.js';

const THREAD_TASK = new URL('./task.js', import.meta.url).href;

export interface RequestThreads {
  /**
   * Runs `req` on a thread. A hang-up reaches the thread running it; one still queued for a
   * thread runs all the same (piscina can only abort a running task by killing its thread).
   */
  handle(req: AppRequest, hungUp: AbortSignal): Promise<AppResponse>;
  wake(channels: readonly string[] | 'all'): void;
  collectMetrics(): Promise<MetricsJson[]>;
  /** Answers parked polls and waits (up to 10 s) for running requests to finish. */
  drain(): Promise<void>;
  /** Closes every thread's pool, then the threads. */
  close(): Promise<void>;
}

export async function startRequestThreads(config: Config, metrics: Metrics): Promise<RequestThreads> {
  const channel = new BroadcastChannel(THREAD_CHANNEL);
  const command = (c: ThreadCommand) => channel.postMessage(c);
  const asks = new Map<number, (reply: ThreadReply) => void>();
  let nextId = 1;
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

  const pool = new Piscina<ThreadTask, AppResponse>({
    filename: THREAD_TASK,
    minThreads: config.threads,
    maxThreads: config.threads,
    concurrentTasksPerWorker: 1,
    // The default ('sync') parks an idle thread in Atomics.wait, freezing its event loop:
    // its pool sockets and relayed wake-ups would stall between tasks.
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    maxQueue: config.maxParked,
    workerData: { config },
  });
  armThreadKill(pool, metrics);

  async function close(): Promise<void> {
    await ask('close', 5000);
    await pool.destroy();
    channel.close();
  }

  try {
    const timedOut = sleep(30_000, undefined, { ref: false }).then(() => {
      throw new Error(`only ${readyThreads} of ${config.threads} threads started in 30 s`);
    });
    await Promise.race([allReady, timedOut]);
  } catch (err) {
    await close();
    throw err;
  }

  const queued = { process: metrics.process };
  metrics.queuedRequests.set(queued, 0);
  let inFlight = 0;
  let nextTaskId = 1;

  return {
    async handle(req, hungUp) {
      inFlight++;
      const id = nextTaskId++;
      const hangUp = () => command({ type: 'hang-up', id });
      hungUp.addEventListener('abort', hangUp, { once: true });
      const task = pool.run({ id, request: req });
      // Sampled after run() so the gauge includes this request when no thread was free.
      metrics.queuedRequests.set(queued, pool.queueSize);
      try {
        return await task;
      } catch (err) {
        const e = /queue is at limit/i.test((err as Error).message)
          ? errors.busy(`all ${config.threads} threads are busy and ${config.maxParked} requests are queued`)
          : errors.internal();
        if (e.code === 'E_INTERNAL') console.error('[busbench] thread task failed:', err);
        return errorResponse(e, 'unmatched');
      } finally {
        hungUp.removeEventListener('abort', hangUp);
        inFlight--;
        metrics.queuedRequests.set(queued, pool.queueSize);
      }
    },
    wake: (channels) => command({ type: 'wake', channels: channels === 'all' ? 'all' : [...channels] }),
    collectMetrics: async () =>
      (await ask('collect', 2000)).flatMap((reply) => (reply.type === 'metrics' ? [reply.metrics] : [])),
    async drain() {
      command({ type: 'stop-polls' });
      for (let waited = 0; inFlight > 0 && waited < 10_000; waited += 50) await sleep(50);
    },
    close,
  };
}
