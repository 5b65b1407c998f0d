// What one serving process or thread is made of, whatever the layout: a pool, a membership
// cache, a bus (unless it serves no polls), the App, and - where polls are served and no
// other thread listens for it - the process's one LISTEN connection.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../lib/server-options.js';
import { App, type Serves } from './app.js';
import { Bus } from './bus.js';
import { MembershipCache } from './cache.js';
import { applicationName, Database, type Role } from './database.js';
import { createHttpServer } from './http-server.js';
import { Listener } from './listener.js';
import { Metrics } from './metrics.js';

export interface AppStack {
  app: App;
  bus: Bus | undefined;
  metrics: Metrics;
  /** Answers parked polls at once; call before waiting for in-flight requests. */
  stopPolls(): void;
  /** Closes the LISTEN connection and the pool. */
  close(): Promise<void>;
}

export interface StackOptions {
  config: Config;
  serves: Serves;
  role: Role;
  index: number;
  processName: string;
  /** 'listen': open this process's LISTEN connection; 'external': another thread feeds bus.notify(). */
  notifications: 'listen' | 'external';
  defaultMetrics: boolean;
}

export async function createAppStack(options: StackOptions): Promise<AppStack> {
  const { config } = options;
  const metrics = new Metrics(config.topology, options.processName, { defaultMetrics: options.defaultMetrics });
  const db = new Database(config, metrics, options.role, options.index);
  const cache = new MembershipCache(db, metrics);
  const bus = options.serves === 'app' ? undefined : new Bus(db, config, metrics);
  let listener: Listener | undefined;
  if (bus && options.notifications === 'listen') {
    listener = createListener(config, options.index, metrics, bus);
    await listener.start();
  }
  const app = new App({ config, db, bus, serves: options.serves, cache });
  return {
    app,
    bus,
    metrics,
    stopPolls: () => bus?.close(),
    async close() {
      await listener?.close();
      await db.close();
    },
  };
}

export function createListener(config: Config, index: number, metrics: Metrics, bus: Pick<Bus, 'notify' | 'wakeAll'>) {
  return new Listener(config.databaseUrl, applicationName(config, 'listen', index), {
    notify: (channels) => bus.notify(channels),
    reconnected: () => {
      metrics.listenReconnects.inc({ process: metrics.process });
      bus.wakeAll();
    },
  });
}

export interface ServingProcess {
  port: number;
  stack: AppStack;
  close(): Promise<void>;
}

/** A process that accepts HTTP and runs the App itself (single-process, forked workers). */
export async function startServingProcess(
  options: Omit<StackOptions, 'notifications' | 'defaultMetrics'> & {
    port: number;
    /** Forked workers bind their own socket instead of sharing the primary's (the bus process). */
    exclusive?: boolean;
    layoutMetrics: (local: Metrics) => Promise<string>;
  },
): Promise<ServingProcess> {
  const stack = await createAppStack({ ...options, notifications: 'listen', defaultMetrics: true });
  const http = createHttpServer({
    config: options.config,
    metrics: stack.metrics,
    handle: (req) => stack.app.handle(req),
    layoutMetrics: () => options.layoutMetrics(stack.metrics),
  });
  const port = await http.listen(options.port, options.config.host, options.exclusive);
  return {
    port,
    stack,
    async close() {
      const closed = http.close();
      stack.stopPolls();
      // A request still running after 10 s (a slow transaction) must not keep the process.
      await Promise.race([closed, sleep(10_000).then(() => http.server.closeAllConnections())]);
      await stack.close();
    },
  };
}
