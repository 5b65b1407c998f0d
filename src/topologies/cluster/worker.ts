// Entry point of a forked worker (cluster-fork, dedicated-longpoll): runs the serving
// process its spec names and talks to the primary over IPC.

import { errors } from '../../lib/errors.js';
import { startServingProcess } from '../serving-process.js';
import type { PrimaryMessage, WorkerAssignment, WorkerMessage } from './primary.js';
import { WORKER_ENV } from './primary.js';

const { spec, config } = JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerAssignment;
const pending = new Map<number, (text: string) => void>();
let nextId = 1;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/** The layout's /metrics comes from the primary, which gathers every worker. */
function layoutMetrics(): Promise<string> {
  const id = nextId++;
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      fail(errors.busy('the cluster primary did not answer for metrics'));
    }, 5000);
    pending.set(id, (text) => {
      clearTimeout(timer);
      done(text);
    });
    send({ type: 'busbench:layout-metrics', id });
  });
}

// Ctrl-C reaches every process of the group; the primary orders the shutdown instead.
process.on('SIGINT', () => {});

const served = await startServingProcess({ ...spec, config, layoutMetrics });
let stopping = false;

process.on('message', async (message: PrimaryMessage) => {
  if (message.type === 'busbench:collect') {
    send({ type: 'busbench:metrics', id: message.id, metrics: await served.stack.metrics.registry.getMetricsAsJSON() });
  } else if (message.type === 'busbench:layout-metrics') {
    pending.get(message.id)?.(message.text);
    pending.delete(message.id);
  } else if (message.type === 'busbench:shutdown' && !stopping) {
    stopping = true;
    await served.close();
    process.exit(0);
  }
});
// Without the primary (it was killed) a worker must not linger.
process.on('disconnect', () => process.exit(0));

send({ type: 'busbench:ready', port: served.port });
