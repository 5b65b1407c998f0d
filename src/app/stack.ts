// What one serving process or thread is made of, whatever the layout: a pool, a membership
// cache, a bus (unless it serves no polls), the App, and - where polls are served and no
// other thread listens for it - the process's one LISTEN connection.
import type { Config } from '../lib/server-options.js';
import { App, type Serves } from './app.js';
import { Bus, databaseFetch } from './bus.js';
import { MembershipCache } from './cache.js';
import { applicationName, Database, type Role } from './database.js';
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
  /** 'listen': open this process's LISTEN connection; 'external': another thread feeds bus.wake(). */
  notifications: 'listen' | 'external';
  defaultMetrics: boolean;
}

export async function createAppStack(options: StackOptions): Promise<AppStack> {
  const { config } = options;
  const metrics = new Metrics(config.topology, options.processName, { defaultMetrics: options.defaultMetrics });
  const db = new Database(config, metrics, options.role, options.index);
  const cache = new MembershipCache(db, metrics, config.cacheSignaling);
  const bus = options.serves === 'app' ? undefined : new Bus(databaseFetch(db, config, metrics), config, metrics);
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

export function createListener(config: Config, index: number, metrics: Metrics, bus: Pick<Bus, 'wake' | 'wakeAll'>) {
  return new Listener(config.databaseUrl, applicationName(config, 'listen', index), {
    notified: (channels) => bus.wake(channels),
    reconnected: () => {
      metrics.listenReconnects.inc({ process: metrics.process });
      bus.wakeAll();
    },
  });
}
