// The node:cluster primary shared by cluster-fork and dedicated-longpoll. It forks one
// worker per spec, restarts a worker that crashed (and counts it), answers "/metrics for the
// whole layout" by gathering every worker's registry over IPC, and shuts workers down in
// order: parked polls answered, pools closed, no process left behind.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Serves } from '../../app/app.js';
import type { Role } from '../../app/database.js';
import { aggregateMetrics, Metrics, type MetricsJson } from '../../app/metrics.js';
import type { Config } from '../../lib/server-options.js';

export interface WorkerSpec {
  serves: Serves;
  role: Role;
  index: number;
  processName: string;
  port: number;
  /** Bind its own socket (the bus process; each worker behind dedicated-longpoll's front) rather than share the primary's. */
  exclusive: boolean;
  /** 'front' when only dedicated-longpoll's front connects to it. */
  socketsFrom: 'clients' | 'front';
}

/** A worker that dies this soon after it was forked met something a prompt restart will not cure (PostgreSQL down). */
const QUICK_DEATH_MS = 5000;

/**
 * How long to wait before restarting a worker that has died `quickDeaths` times in a row, each
 * within QUICK_DEATH_MS of its start: at once after a worker that had been running, then 0.5 s,
 * 1 s, 2 s... up to 30 s, so a crash loop does not fork as fast as the machine allows.
 */
export function restartDelayMs(quickDeaths: number): number {
  return quickDeaths === 0 ? 0 : Math.min(30_000, 250 * 2 ** quickDeaths);
}

/** N HTTP workers sharing the primary's port (it accepts and hands out connections round-robin). */
export function httpWorkers(
  count: number,
  serves: Serves,
  port: number,
  socketsFrom: WorkerSpec['socketsFrom'] = 'clients',
): WorkerSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    serves,
    role: 'http',
    index: i + 1,
    processName: `worker-${i + 1}`,
    port,
    exclusive: false,
    socketsFrom,
  }));
}

/** Set in a forked worker's environment: which spec it runs, with the layout's config. */
export const WORKER_ENV = 'BUSBENCH_WORKER';
export interface WorkerAssignment {
  spec: WorkerSpec;
  config: Config;
}

export type WorkerMessage =
  | { type: 'busbench:ready'; port: number }
  | { type: 'busbench:metrics'; id: number; metrics: MetricsJson }
  | { type: 'busbench:layout-metrics'; id: number };
export type PrimaryMessage =
  | { type: 'busbench:collect'; id: number }
  | { type: 'busbench:layout-metrics'; id: number; text: string }
  | { type: 'busbench:shutdown' };

const WORKER_ENTRY = fileURLToPath(new URL('./worker.js', import.meta.url));

export interface RunningCluster {
  /** The primary's own registry, part of the layout's /metrics (a front in the primary counts into it). */
  metrics: Metrics;
  close(): Promise<void>;
}

/** `primaryName` is the primary's `process` label: 'front' when it also runs dedicated-longpoll's front. */
export async function startCluster(
  config: Config,
  specs: WorkerSpec[],
  primaryName = 'primary',
): Promise<RunningCluster> {
  const metrics = new Metrics(config.topology, primaryName, { defaultMetrics: true });
  const workers = new Map<Worker, WorkerSpec>();
  const ready = new Set<Worker>();
  const replies = new Map<number, (m: MetricsJson) => void>();
  let nextId = 1;
  let closing = false;

  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [] });

  async function layoutMetrics(): Promise<string> {
    // A worker still starting (after a restart) cannot answer yet: waiting for it would
    // only delay /metrics by the collect timeout.
    const live = [...ready].filter((w) => w.isConnected());
    const parts = await Promise.all(live.map(collect));
    const own = await metrics.registry.getMetricsAsJSON();
    return aggregateMetrics([own, ...parts.filter((p): p is MetricsJson => p !== undefined)]);
  }

  /** One worker's registry; a worker that does not answer in 2 s is left out, not waited for. */
  function collect(worker: Worker): Promise<MetricsJson | undefined> {
    const id = nextId++;
    return new Promise((done) => {
      const timer = setTimeout(() => {
        replies.delete(id);
        done(undefined);
      }, 2000);
      replies.set(id, (m) => {
        clearTimeout(timer);
        replies.delete(id);
        done(m);
      });
      send(worker, { type: 'busbench:collect', id });
    });
  }

  /** Per process name: when it was last forked, and how many times in a row it died soon after. */
  const lives = new Map<string, { forkedAt: number; quickDeaths: number }>();
  const restarts = new Set<NodeJS.Timeout>();

  function fork(spec: WorkerSpec): Promise<void> {
    const assignment: WorkerAssignment = { spec, config };
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(assignment) });
    workers.set(worker, spec);
    lives.set(spec.processName, { forkedAt: Date.now(), quickDeaths: lives.get(spec.processName)?.quickDeaths ?? 0 });
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'busbench:metrics') replies.get(message.id)?.(message.metrics);
      if (message.type === 'busbench:layout-metrics') {
        void layoutMetrics().then((text) => send(worker, { type: 'busbench:layout-metrics', id: message.id, text }));
      }
    });
    return new Promise((started, failed) => {
      const onMessage = (message: WorkerMessage) => {
        if (message.type !== 'busbench:ready') return;
        worker.off('message', onMessage);
        worker.off('exit', onEarlyExit);
        ready.add(worker);
        started();
      };
      const onEarlyExit = (code: number) =>
        failed(new Error(`${spec.processName} exited with code ${code} while starting`));
      worker.on('message', onMessage);
      worker.once('exit', onEarlyExit);
    });
  }

  cluster.on('exit', (worker, code, signal) => {
    const spec = workers.get(worker);
    workers.delete(worker);
    ready.delete(worker);
    if (closing || !spec) return;
    const life = lives.get(spec.processName) ?? { forkedAt: 0, quickDeaths: 0 };
    life.quickDeaths = Date.now() - life.forkedAt < QUICK_DEATH_MS ? life.quickDeaths + 1 : 0;
    const delay = restartDelayMs(life.quickDeaths);
    const when =
      delay === 0 ? 'restarting it' : `restarting it in ${delay} ms (died ${life.quickDeaths} times in a row)`;
    console.error(`[busbench] ${spec.processName} (pid ${worker.process.pid}) died (${signal ?? code}); ${when}`);
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (closing) return;
      metrics.workerRestarts.inc();
      fork(spec).catch((err: Error) =>
        console.error(`[busbench] restart of ${spec.processName} failed: ${err.message}`),
      );
    }, delay);
    restarts.add(timer);
  });

  try {
    await Promise.all(specs.map(fork));
  } catch (err) {
    closing = true;
    for (const w of workers.keys()) w.kill();
    throw err;
  }

  return {
    metrics,
    async close() {
      closing = true;
      for (const timer of restarts) clearTimeout(timer);
      const exits = [...workers.keys()].map(
        (w) =>
          new Promise<void>((done) => {
            if (w.isDead()) return done();
            const timer = setTimeout(() => w.process.kill('SIGKILL'), 15_000);
            w.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            send(w, { type: 'busbench:shutdown' });
          }),
      );
      await Promise.all(exits);
      cluster.removeAllListeners('exit');
    },
  };
}

function send(worker: Worker, message: PrimaryMessage): void {
  // A worker that just died can still look connected; with a callback a failed send is
  // reported here instead of as an 'error' event that would bring the primary down.
  if (worker.isConnected()) worker.send(message, undefined, () => {});
}
