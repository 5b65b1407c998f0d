// The piscina pool behind worker-threads, seen from the main thread: at most the request
// thread count of tasks run at once (one per thread, as a threaded server runs one request
// per thread); the rest queue. It relays commands to every thread, gathers their metrics, and
// drains them on shutdown. The thread side is task.ts; they talk over one BroadcastChannel
// (messages.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Metrics, MetricsJson } from '../../app/metrics.js';
import { errors } from '../../lib/errors.js';
import type { Config } from '../../lib/server-options.js';
import { type TaskResult, THREAD_CHANNEL, type ThreadCommand, type ThreadReply, type ThreadTask } from './messages.js';
import { armThreadKill } from './thread-kill.js';

const THREAD_TASK = new URL('./task.js', import.meta.url).href;

/**
 * Request threads: --threads, or (0) half of --pool-size, as Odoo 12+ caps its request
 * threads at db_maxconn // 2 unless ODOO_MAX_HTTP_THREADS says otherwise: most requests use
 * one cursor, a few two at once. Every thread needs a connection of the one pool, so there
 * are never more threads than connections.
 */
export function requestThreads(config: Pick<Config, 'threads' | 'poolSize'>): number {
  const threads = config.threads || Math.max(1, Math.floor(config.poolSize / 2));
  if (threads > config.poolSize) {
    throw errors.config(
      '--threads',
      `is ${threads}, more than --pool-size ${config.poolSize}: worker-threads shares one pool among its threads ` +
        'and each needs a connection; raise --pool-size or lower --threads',
    );
  }
  return threads;
}

/** Each thread's pool: an equal share of the process's one pool, so all of them hold at most --pool-size. */
export function threadPoolSize(config: Pick<Config, 'threads' | 'poolSize'>): number {
  return Math.floor(config.poolSize / requestThreads(config));
}

export interface RequestThreads {
  /**
   * Runs `task` on a free thread, or queues it until one is. A hang-up of a request task
   * reaches the thread running it; one still queued runs all the same (piscina can only
   * abort a running task by killing its thread). Throws E_BUSY when the queue is full.
   */
  run(task: ThreadTask, hungUp?: AbortSignal): Promise<TaskResult>;
  /** --poll-holds-thread: a NOTIFY for the polls parked in the threads. */
  wake(channels: readonly string[] | 'all'): void;
  collectMetrics(): Promise<MetricsJson[]>;
  /** Answers the polls parked in the threads. */
  stopPolls(): void;
  /** Waits (up to 10 s) for running and queued tasks to finish. */
  settle(): Promise<void>;
  /** Closes every thread's pool, then the threads. */
  close(): Promise<void>;
}

export async function startRequestThreads(config: Config, metrics: Metrics): Promise<RequestThreads> {
  const threads = requestThreads(config);
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
    if (reply.type === 'ready' && ++readyThreads === threads) threadsReady();
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
        if (replies.length === threads) finish();
      });
      command({ type, id });
    });
  }

  const pool = new Piscina<ThreadTask, TaskResult>({
    filename: THREAD_TASK,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    // The default ('sync') parks an idle thread in Atomics.wait, freezing its event loop:
    // its pool sockets and relayed wake-ups would stall between tasks.
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    maxQueue: config.maxParked,
    workerData: { config, threadPoolSize: threadPoolSize(config) },
  });
  armThreadKill(pool, metrics);

  async function close(): Promise<void> {
    await ask('close', 5000);
    await pool.destroy();
    channel.close();
  }

  try {
    const timedOut = sleep(30_000, undefined, { ref: false }).then(() => {
      throw new Error(`only ${readyThreads} of ${threads} threads started in 30 s`);
    });
    await Promise.race([allReady, timedOut]);
  } catch (err) {
    await close();
    throw err;
  }

  const queued = { process: metrics.process };
  metrics.queuedRequests.set(queued, 0);
  let inFlight = 0;

  return {
    async run(task, hungUp) {
      inFlight++;
      const hangUp = task.type === 'request' ? () => command({ type: 'hang-up', id: task.id }) : undefined;
      if (hangUp) hungUp?.addEventListener('abort', hangUp, { once: true });
      const result = pool.run(task);
      // Sampled after run() so the gauge includes this task when no thread was free.
      metrics.queuedRequests.set(queued, pool.queueSize);
      try {
        return await result;
      } catch (err) {
        if (/queue is at limit/i.test((err as Error).message)) {
          throw errors.busy(`all ${threads} threads are busy and ${config.maxParked} requests are queued`);
        }
        // A thread that exits or is terminated rejects the task it ran: a fault, not a bug.
        if (/worker exited|terminating worker/i.test((err as Error).message)) throw errors.threadLost();
        console.error('[busbench] thread task failed:', err);
        throw errors.internal();
      } finally {
        if (hangUp) hungUp?.removeEventListener('abort', hangUp);
        inFlight--;
        metrics.queuedRequests.set(queued, pool.queueSize);
      }
    },
    wake: (channels) => command({ type: 'wake', channels: channels === 'all' ? 'all' : [...channels] }),
    collectMetrics: async () =>
      (await ask('collect', 2000)).flatMap((reply) => (reply.type === 'metrics' ? [reply.metrics] : [])),
    stopPolls: () => command({ type: 'stop-polls' }),
    async settle() {
      for (let waited = 0; inFlight > 0 && waited < 10_000; waited += 50) await sleep(50);
    },
    close,
  };
}
