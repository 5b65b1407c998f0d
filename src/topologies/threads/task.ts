// The piscina side of worker-threads: each thread builds its own App stack and runs one task
// at a time, as a request thread of Odoo's threaded server does. pg clients cannot be shared
// between threads, so each thread's pool is its equal share of the process's one --pool-size
// budget (requestThreads() in pool.ts). The main thread holds the process's LISTEN connection.
// By default it is also the dispatcher: a poll runs here up to parking (its first fetch
// included) and returns what it waits for; each fetch after a wake-up comes back here as its
// own task. With
// --poll-holds-thread a poll parks in this thread's own bus instead, and the main thread
// relays each NOTIFY here as a wake-up over a BroadcastChannel.
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { errorResponse, pollResponse } from '../../app/app.js';
import { createAppStack } from '../../app/stack.js';
import { HttpError, type HttpErrorCode } from '../../lib/errors.js';
import type { Config } from '../../lib/server-options.js';
import { type TaskResult, THREAD_CHANNEL, type ThreadCommand, type ThreadReply, type ThreadTask } from './messages.js';

const { config, threadPoolSize } = workerData as { config: Config; threadPoolSize: number };
const processName = `thread-${threadId}`;
const ready = createAppStack({
  config: { ...config, poolSize: threadPoolSize },
  serves: 'all',
  role: 'http',
  index: threadId,
  processName,
  notifications: 'external',
  // process_* figures belong to the whole process: the main thread reports them.
  defaultMetrics: false,
});

/** This thread's task by id, to stop its poll when its client hangs up (every thread hears it). */
const running = new Map<number, AbortController>();

const channel = new BroadcastChannel(THREAD_CHANNEL);
// The channel must not keep a thread alive once piscina lets it go.
channel.unref();
channel.onmessage = async (event) => {
  const command = (event as { data: ThreadCommand }).data;
  const stack = await ready;
  const reply = (message: ThreadReply) => channel.postMessage(message);
  switch (command.type) {
    case 'wake':
      stack.bus?.wake(command.channels);
      break;
    case 'collect':
      reply({ type: 'metrics', id: command.id, metrics: await stack.metrics.registry.getMetricsAsJSON() });
      break;
    case 'hang-up':
      running.get(command.id)?.abort();
      break;
    case 'stop-polls':
      stack.stopPolls();
      break;
    case 'close':
      await stack.close();
      reply({ type: 'closed', id: command.id });
      break;
  }
};

// The main thread's channel exists before any thread starts, so this cannot be missed,
// whereas a command the main thread sends before this thread subscribed would be.
void ready.then(() => channel.postMessage({ type: 'ready', id: 0 } satisfies ThreadReply));

export default async function run(task: ThreadTask): Promise<TaskResult> {
  const stack = await ready;
  const { app } = stack;
  if (task.type === 'fetch') {
    try {
      return { type: 'rows', rows: (await stack.bus?.fetch(task.channels, task.last, task.reason)) ?? [] };
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      return { type: 'failed', error: { code: err.code as HttpErrorCode, message: err.message, field: err.field } };
    }
  }
  if (task.type === 'socket') return { type: 'socket', answer: await app.socketCall(task.call) };
  if (!config.pollHoldsThread) {
    const answer = await app.handleUntilParked(task.request);
    if (!('wait' in answer)) return { type: 'answer', response: answer };
    // The first fetch belongs to the work before parking: the poll parks only if it finds nothing.
    try {
      const rows = await stack.bus?.fetch(answer.wait.channels, answer.wait.last, 'initial');
      if (rows?.length) return { type: 'answer', response: pollResponse(answer.wait, rows) };
      return { type: 'park', wait: answer.wait };
    } catch (err) {
      if (!(err instanceof HttpError)) console.error('[busbench] POST /bus/poll failed before parking:', err);
      return { type: 'answer', response: errorResponse(err, 'bus.poll') };
    }
  }
  const hangUp = new AbortController();
  running.set(task.id, hangUp);
  try {
    return { type: 'answer', response: await app.handle(task.request, hangUp.signal) };
  } finally {
    running.delete(task.id);
  }
}
