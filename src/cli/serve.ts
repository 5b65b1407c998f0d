// `busbench serve`: a PostgreSQL server (embedded, or DATABASE_URL), migrated and seeded,
// then one layout on top, until Ctrl-C or SIGTERM stops both in order.

import { PROFILE_NAMES, PROFILES } from '../../loadtests/lib/profiles.js';
import { prepareDatabase } from '../app/migrate.js';
import { errors } from '../lib/errors.js';
import { oneOf, option } from '../lib/options.js';
import { openPostgres, type PostgresServer, redact } from '../lib/postgres.js';
import { type Config, type ConfigKey, RETRY_PRESETS } from '../lib/server-options.js';
import { topologies } from '../topologies/index.js';
import type { RunningLayout } from '../topologies/topology.js';

const log = (line: string) => console.error(`[busbench] ${line}`);

/** `busbench serve`'s own flag, besides the server settings. */
export const SERVE_OPTIONS = {
  profile: option({
    env: 'BUSBENCH_SERVE_PROFILE',
    flag: '--profile <name>',
    doc:
      `serve what a load profile expects, for k6 run by hand: its seeded users and channels, poll timeout, presence ` +
      `and its interval, isolation and retry preset, as if given as flags (a flag given too wins): ${PROFILE_NAMES.join(', ')}; empty: none`,
    default: '',
    parse: (raw: string, name: string) => (raw === '' ? '' : oneOf(PROFILE_NAMES)(raw, name)),
  }),
};

/** The server settings a profile decides, as flags for loadConfig(). */
export function profileFlags(name: string): Partial<Record<ConfigKey, string>> {
  const p = PROFILES[name];
  if (!p) return {};
  return {
    users: String(p.users),
    channels: String(p.channels),
    channelsPerUser: String(p.channelsPerUser),
    pollTimeout: String(p.pollTimeout),
    presence: p.presence,
    presenceInterval: String(p.presenceInterval),
    isolation: p.isolation,
    ...(p.retryPreset ? presetFlags(RETRY_PRESETS[p.retryPreset]) : {}),
  };
}

/** A retry preset's settings as flags. */
function presetFlags(preset: Partial<Config>): Partial<Record<ConfigKey, string>> {
  return Object.fromEntries(Object.entries(preset).map(([key, value]) => [key, String(value)]));
}

export interface Served {
  layout: RunningLayout;
  database: PostgresServer;
  stop(): Promise<void>;
}

export async function serve(config: Config): Promise<Served> {
  const topology = topologies[config.topology];
  const budget = topology.budget(config);
  // Headroom above the layout's budget for psql, the metrics collector and the tests.
  const maxConnections = Math.max(100, budget.total + 50);
  const database = await openPostgres({ ...config, maxConnections, log });
  try {
    log(
      config.databaseUrl
        ? `PostgreSQL: ${redact(config.databaseUrl)} (DATABASE_URL)`
        : `PostgreSQL: embedded at ${redact(database.url)}, max_connections ${maxConnections}`,
    );
    const { applied, seeded } = await prepareDatabase(database.url, config).catch((err: unknown) => {
      throw errors.database(redact(database.url), err);
    });
    if (applied.length > 0) log(`migrations applied: ${applied.join(', ')}`);
    if (seeded)
      log(
        `seeded ${config.users} users (user1..user${config.users}, password "busbench"), ${config.channels} channels`,
      );
    log(`${config.topology}: ${topology.description}`);
    log(`connection budget: ${budget.summary}`);
    const layout = await topology.start({ ...config, databaseUrl: database.url });
    log(`serving ${layout.url}${layout.busUrl ? `, bus at ${layout.busUrl}` : ''}`);
    let stopping: Promise<void> | undefined;
    return {
      layout,
      database,
      stop: () =>
        (stopping ??= (async () => {
          await layout.close();
          await database.stop();
        })()),
    };
  } catch (err) {
    await database.stop();
    throw err;
  }
}
