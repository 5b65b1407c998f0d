// The piscina side of worker-threads: each thread builds its own App stack (its own pool:
// pg clients cannot be shared between threads) and answers one request at a time. The
// main thread holds the process's LISTEN connection and relays each NOTIFY here as a wake-up
// over a BroadcastChannel, as Odoo's threaded server has one dispatcher for all its threads.
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import type { AppResponse } from '../../app/app.js';
import { createAppStack } from '../../app/stack.js';
import type { Config } from '../../lib/server-options.js';
import { THREAD_CHANNEL, type ThreadCommand, type ThreadReply, type ThreadTask } from './messages.js';

const { config } = workerData as { config: Config };
const processName = `thread-${threadId}`;
const ready = createAppStack({
  config,
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

export default async function handle(task: ThreadTask): Promise<AppResponse> {
  const hangUp = new AbortController();
  running.set(task.id, hangUp);
  try {
    return await (await ready).app.handle(task.request, hangUp.signal);
  } finally {
    running.delete(task.id);
  }
}
