// Every setting of busbench lives in OPTIONS: its default, its environment variable, its
// flag and its documentation. The CLI builds its flags from this table and the README's
// configuration section is the same text, so a default is written down exactly once.
import { PROFILE_NAMES } from '../loadtests/lib/profiles.js';
import { errors } from './errors.js';

export const TOPOLOGIES = ['single-process', 'worker-threads', 'cluster-fork', 'dedicated-longpoll'] as const;
export type TopologyName = (typeof TOPOLOGIES)[number];

/** Presence strategies, each named after the Odoo version whose behaviour it models. */
export const PRESENCE_STRATEGIES = ['every-poll', 'throttled', 'rollback-on-conflict', 'nowait', 'upsert'] as const;
export type PresenceStrategy = (typeof PRESENCE_STRATEGIES)[number];

export const ISOLATION_LEVELS = ['read-committed', 'repeatable-read', 'serializable'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

export const DISPATCH_MODES = ['per-waiter', 'shared'] as const;
export type DispatchMode = (typeof DISPATCH_MODES)[number];

/** How the chat page's tabs share the bus: each polls (Odoo 8), one elected tab (9-15), a SharedWorker (16+). */
export const BROWSER_MODES = ['every-tab', 'leader', 'shared-worker'] as const;
export type BrowserMode = (typeof BROWSER_MODES)[number];

interface Option<T> {
  env: string;
  flag: string;
  doc: string;
  default: T;
  parse: (raw: string, name: string) => T;
}

function oneOf<const C extends readonly string[]>(choices: C) {
  return (raw: string, name: string): C[number] => {
    if (!choices.includes(raw)) throw errors.config(name, `must be one of ${choices.join(', ')} (got "${raw}")`);
    return raw;
  };
}

function integer(min: number) {
  return (raw: string, name: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      throw errors.config(name, `must be an integer >= ${min} (got "${raw}")`);
    }
    return value;
  };
}

function seconds(raw: string, name: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw errors.config(name, `must be a number of seconds >= 0 (got "${raw}")`);
  return value;
}

const text = (raw: string): string => raw;

/** A comma-separated subset of `choices`, in the order given (a sweep dimension). */
function listOf<const C extends readonly string[]>(choices: C) {
  return (raw: string, name: string): C[number][] => {
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((i) => !choices.includes(i));
    if (items.length === 0 || bad.length > 0) {
      throw errors.config(name, `must list one or more of ${choices.join(', ')} separated by commas (got "${raw}")`);
    }
    return [...new Set(items)];
  };
}

function perSecond(raw: string, name: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw errors.config(name, `must be a rate per second >= 0 (got "${raw}")`);
  return value;
}

function fraction(raw: string, name: string): number {
  const value = Number(raw);
  if (!(value >= 0 && value <= 1)) throw errors.config(name, `must be a number from 0 to 1 (got "${raw}")`);
  return value;
}

function flag(raw: string, name: string): boolean {
  if (['', '1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw errors.config(name, `must be true or false (got "${raw}")`);
}

function option<T>(o: Option<T>): Option<T> {
  return o;
}

/** A bench setting whose default (null) keeps the profile's own value. */
function profileOption<T>(env: string, flag: string, doc: string, parse: (raw: string, name: string) => T) {
  return option<T | null>({ env, flag, doc, default: null, parse });
}

export const OPTIONS = {
  topology: option({
    env: 'BUSBENCH_TOPOLOGY',
    flag: '--topology <name>',
    doc: 'process layout: single-process, worker-threads, cluster-fork or dedicated-longpoll',
    default: 'single-process' as TopologyName,
    parse: oneOf(TOPOLOGIES),
  }),
  host: option({
    env: 'BUSBENCH_HOST',
    flag: '--host <address>',
    doc: 'address the HTTP servers listen on',
    default: '127.0.0.1',
    parse: text,
  }),
  port: option({
    env: 'BUSBENCH_PORT',
    flag: '--port <n>',
    doc: "HTTP port (Odoo's 8069); 0 picks a free port",
    default: 8069,
    parse: integer(0),
  }),
  busPort: option({
    env: 'BUSBENCH_BUS_PORT',
    flag: '--bus-port <n>',
    doc: "dedicated-longpoll only: port of the bus process (Odoo's longpolling_port 8072); 0 picks a free port",
    default: 8072,
    parse: integer(0),
  }),
  workers: option({
    env: 'BUSBENCH_WORKERS',
    flag: '--workers <n>',
    doc: 'cluster-fork and dedicated-longpoll: forked HTTP worker processes',
    default: 2,
    parse: integer(1),
  }),
  threads: option({
    env: 'BUSBENCH_THREADS',
    flag: '--threads <n>',
    doc: 'worker-threads: request threads; a parked poll holds its thread, so this bounds concurrent polls',
    default: 8,
    parse: integer(1),
  }),
  poolSize: option({
    env: 'BUSBENCH_POOL_SIZE',
    flag: '--pool-size <n>',
    doc: 'database connections per serving process or thread (pg default 10; Odoo db_maxconn is 64)',
    default: 10,
    parse: integer(1),
  }),
  poolTimeout: option({
    env: 'BUSBENCH_POOL_TIMEOUT',
    flag: '--pool-timeout <s>',
    doc: 'seconds a request waits for a pooled connection before it gets 503 E_POOL_EXHAUSTED',
    default: 5,
    parse: seconds,
  }),
  pollTimeout: option({
    env: 'BUSBENCH_POLL_TIMEOUT',
    flag: '--poll-timeout <s>',
    doc: "seconds a poll with nothing new waits (Odoo's bus TIMEOUT, 50 in every version)",
    default: 50,
    parse: seconds,
  }),
  maxParked: option({
    env: 'BUSBENCH_MAX_PARKED',
    flag: '--max-parked <n>',
    doc: 'parked polls allowed per process (then 503 E_TOO_MANY_POLLS); in worker-threads, requests queued for a thread (then 503 E_BUSY)',
    default: 20000,
    parse: integer(1),
  }),
  presence: option({
    env: 'BUSBENCH_PRESENCE',
    flag: '--presence <strategy>',
    doc: 'presence write strategy: every-poll (9.0), throttled (8.0), rollback-on-conflict (12.0+), nowait, upsert',
    default: 'every-poll' as PresenceStrategy,
    parse: oneOf(PRESENCE_STRATEGIES),
  }),
  presenceInterval: option({
    env: 'BUSBENCH_PRESENCE_INTERVAL',
    flag: '--presence-interval <s>',
    doc: 'throttled and upsert: rewrite presence only when older than this or the status changed (Odoo 8.0: 50)',
    default: 50,
    parse: seconds,
  }),
  isolation: option({
    env: 'BUSBENCH_ISOLATION',
    flag: '--isolation <level>',
    doc: 'transaction isolation: read-committed, repeatable-read (Odoo) or serializable (Websauna)',
    default: 'repeatable-read' as IsolationLevel,
    parse: oneOf(ISOLATION_LEVELS),
  }),
  dispatch: option({
    env: 'BUSBENCH_DISPATCH',
    flag: '--dispatch <mode>',
    doc: 'bus wake-up: per-waiter (one fetch per woken poll, Odoo <= 15) or shared (one fetch per wake-up)',
    default: 'per-waiter' as DispatchMode,
    parse: oneOf(DISPATCH_MODES),
  }),
  maxTries: option({
    env: 'BUSBENCH_MAX_TRIES',
    flag: '--max-tries <n>',
    doc: 'tries of a unit of work on 40001/40P01/55P03 before the user sees the failure (Odoo: 5)',
    default: 5,
    parse: integer(1),
  }),
  retryBase: option({
    env: 'BUSBENCH_RETRY_BASE',
    flag: '--retry-base <s>',
    doc: 'backoff before retry n is uniform(0, base x 2^n) seconds (Odoo: 1; smaller keeps runs short)',
    default: 0.01,
    parse: seconds,
  }),
  bodyLimit: option({
    env: 'BUSBENCH_BODY_LIMIT',
    flag: '--body-limit <bytes>',
    doc: 'largest request body; a bigger one gets 413 E_TOO_LARGE',
    default: 65536,
    parse: integer(1),
  }),
  users: option({
    env: 'BUSBENCH_USERS',
    flag: '--users <n>',
    doc: 'seeded users user1..userN (password "busbench")',
    default: 200,
    parse: integer(1),
  }),
  channels: option({
    env: 'BUSBENCH_CHANNELS',
    flag: '--channels <n>',
    doc: 'seeded channels; channel 1 "general" has every user',
    default: 20,
    parse: integer(1),
  }),
  channelsPerUser: option({
    env: 'BUSBENCH_CHANNELS_PER_USER',
    flag: '--channels-per-user <n>',
    doc: 'seeded memberships per user besides "general"',
    default: 3,
    parse: integer(0),
  }),
  databaseUrl: option({
    env: 'DATABASE_URL',
    flag: '--database-url <url>',
    doc: 'use this PostgreSQL server and database instead of starting the embedded one',
    default: '',
    parse: text,
  }),
  dataDir: option({
    env: 'BUSBENCH_DATA_DIR',
    flag: '--data-dir <dir>',
    doc: 'where the embedded PostgreSQL keeps its files (removed when it stops)',
    default: '.busbench/pg',
    parse: text,
  }),
};

/**
 * `busbench bench`: what to run. Profile settings default to null, meaning "the profile's";
 * presence, isolation and dispatch take lists and the bench runs every combination.
 */
export const BENCH_OPTIONS = {
  engine: option({
    env: 'BUSBENCH_ENGINE',
    flag: '--engine <name>',
    doc: 'load generator: node (built in) or k6 (a k6 on PATH runs loadtests/<profile>.js per case)',
    default: 'node' as 'node' | 'k6',
    parse: oneOf(['node', 'k6'] as const),
  }),
  metricsPort: option({
    env: 'BUSBENCH_METRICS_PORT',
    flag: '--metrics-port <n>',
    doc: "node engine: serve the runner's live figures for Prometheus on this port, under k6's metric names (the k6 dashboard); 0: off",
    default: 0,
    parse: integer(0),
  }),
  layouts: option({
    env: 'BUSBENCH_LAYOUTS',
    flag: '--layouts <list>',
    doc: 'comma-separated layouts to measure, in this order',
    default: [...TOPOLOGIES] as TopologyName[],
    parse: listOf(TOPOLOGIES),
  }),
  profile: option({
    env: 'BUSBENCH_PROFILE',
    flag: '--profile <name>',
    doc: `load profile from loadtests/lib/profiles.js: ${PROFILE_NAMES.join(', ')}`,
    default: 'tabs',
    parse: oneOf(PROFILE_NAMES),
  }),
  quick: option({
    env: 'BUSBENCH_QUICK',
    flag: '--quick',
    doc: 'short phases (3 s warm-up, 6 s measured) for a first look or CI; under 60 s for four layouts',
    default: false,
    parse: flag,
  }),
  profileUsers: profileOption(
    'BUSBENCH_BENCH_USERS',
    '--users <n>',
    "simulated users (null: the profile's)",
    integer(1),
  ),
  browsers: profileOption('BUSBENCH_BROWSERS', '--browsers <n>', "browsers per user (null: the profile's)", integer(1)),
  tabs: profileOption('BUSBENCH_TABS', '--tabs <n>', "tabs per browser (null: the profile's)", integer(1)),
  tabMode: profileOption(
    'BUSBENCH_TAB_MODE',
    '--tab-mode <mode>',
    "every-tab (each tab polls, Odoo 8) or leader-tab (one tab per browser polls, Odoo 9-15) (null: the profile's)",
    oneOf(['every-tab', 'leader-tab'] as const),
  ),
  connections: profileOption(
    'BUSBENCH_CONNECTIONS',
    '--connections <n>',
    "HTTP connections per origin in each simulated browser (browsers: 6) (null: the profile's)",
    integer(1),
  ),
  hidden: profileOption(
    'BUSBENCH_HIDDEN',
    '--hidden <fraction>',
    "share of tabs hidden, 0 to 1 (null: the profile's)",
    fraction,
  ),
  duration: profileOption(
    'BUSBENCH_DURATION',
    '--duration <s>',
    "seconds measured per case (null: the profile's, or 6 with --quick)",
    seconds,
  ),
  warmup: profileOption(
    'BUSBENCH_WARMUP',
    '--warmup <s>',
    "seconds of load before measuring (null: the profile's, or 3 with --quick)",
    seconds,
  ),
  rate: profileOption(
    'BUSBENCH_RATE',
    '--rate <posts/s>',
    "chat posts per second, open model (null: the profile's)",
    perSecond,
  ),
  benchPollTimeout: profileOption(
    'BUSBENCH_BENCH_POLL_TIMEOUT',
    '--poll-timeout <s>',
    "poll timeout for server and tabs (null: the profile's)",
    seconds,
  ),
  presences: profileOption(
    'BUSBENCH_PRESENCES',
    '--presence <list>',
    "presence strategies to compare, e.g. every-poll,upsert (null: the profile's)",
    listOf(PRESENCE_STRATEGIES),
  ),
  isolations: profileOption(
    'BUSBENCH_ISOLATIONS',
    '--isolation <list>',
    "isolation levels to compare (null: the profile's)",
    listOf(ISOLATION_LEVELS),
  ),
  dispatches: profileOption(
    'BUSBENCH_DISPATCHES',
    '--dispatch <list>',
    "bus dispatch modes to compare (null: the server's --dispatch, per-waiter unless BUSBENCH_DISPATCH says otherwise)",
    listOf(DISPATCH_MODES),
  ),
  browser: option({
    env: 'BUSBENCH_BROWSER',
    flag: '--browser',
    doc: 'open the chat page in real tabs of headless Chromium (/usr/bin/chromium) instead of the simulated load; poll timeout 10 s unless --poll-timeout',
    default: false,
    parse: flag,
  }),
  browserModes: option({
    env: 'BUSBENCH_BROWSER_MODES',
    flag: '--browser-modes <list>',
    doc: 'with --browser: tab modes of the chat page to measure, in this order',
    default: [...BROWSER_MODES] as BrowserMode[],
    parse: listOf(BROWSER_MODES),
  }),
  browserCount: option({
    env: 'BUSBENCH_BROWSER_COUNT',
    flag: '--browser-count <n>',
    doc: 'with --browser: browsers, each with its own connections, cookies, Web Locks and SharedWorkers; browser i logs in as user<i>',
    default: 2,
    parse: integer(1),
  }),
  browserTabs: option({
    env: 'BUSBENCH_BROWSER_TABS',
    flag: '--browser-tabs <n>',
    doc: 'with --browser: tabs per browser',
    default: 10,
    parse: integer(1),
  }),
  repeat: option({
    env: 'BUSBENCH_REPEAT',
    flag: '--repeat <n>',
    doc: 'run every case n times and report the spread (the stability benchmark uses 3)',
    default: 1,
    parse: integer(1),
  }),
  out: option({
    env: 'BUSBENCH_RESULTS',
    flag: '--out <dir>',
    doc: 'where results/<timestamp>/ folders are written',
    default: 'results',
    parse: text,
  }),
};

/** `busbench capacity`: the scale benchmarks (parked polls, broadcast fan-out, runner cost). */
export const CAPACITY_OPTIONS = {
  capacityTabs: option({
    env: 'BUSBENCH_CAPACITY_TABS',
    flag: '--tabs <n>',
    doc: 'long-polling tabs to open against single-process (one per simulated browser)',
    default: 10_000,
    parse: integer(1),
  }),
  ramp: option({
    env: 'BUSBENCH_RAMP',
    flag: '--ramp <s>',
    doc: 'seconds over which the tabs arrive',
    default: 20,
    parse: seconds,
  }),
  dispatches: option({
    env: 'BUSBENCH_CAPACITY_DISPATCHES',
    flag: '--dispatch <list>',
    doc: 'dispatch modes to measure, one run each',
    default: [...DISPATCH_MODES] as DispatchMode[],
    parse: listOf(DISPATCH_MODES),
  }),
};

/** `busbench db-exporter`: PostgreSQL's view of a run (connections, commits, locks) for Prometheus. */
export const EXPORTER_OPTIONS = {
  exporterPort: option({
    env: 'BUSBENCH_EXPORTER_PORT',
    flag: '--port <n>',
    doc: "port of the exporter's GET /metrics (postgres_exporter's is 9187); 0 picks a free port",
    default: 9187,
    parse: integer(0),
  }),
};

/** Server settings the bench sets per case itself (from the profile and the sweep). */
export const BENCH_CONTROLLED = [
  'topology',
  'port',
  'busPort',
  'presence',
  'isolation',
  'dispatch',
  'users',
  'channels',
  'channelsPerUser',
  'pollTimeout',
] as const satisfies readonly ConfigKey[];

type Values<T extends Record<string, Option<unknown>>> = { [K in keyof T]: T[K]['default'] };
export type Config = Values<typeof OPTIONS>;
export type ConfigKey = keyof Config;
export type BenchOptions = Values<typeof BENCH_OPTIONS>;
export type CapacityConfig = Values<typeof CAPACITY_OPTIONS>;
export type ExporterConfig = Values<typeof EXPORTER_OPTIONS>;

/** Defaults, overridden by the environment, overridden by flags (already-parsed strings). */
export function loadConfig(
  flags: Partial<Record<ConfigKey, string>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  return loadOptions(OPTIONS, flags, env);
}

export function loadBenchOptions(
  flags: Partial<Record<keyof BenchOptions, string>> = {},
  env: NodeJS.ProcessEnv = process.env,
): BenchOptions {
  return loadOptions(BENCH_OPTIONS, flags, env);
}

export function loadCapacityOptions(
  flags: Partial<Record<keyof CapacityConfig, string>> = {},
  env: NodeJS.ProcessEnv = process.env,
): CapacityConfig {
  return loadOptions(CAPACITY_OPTIONS, flags, env);
}

export function loadExporterOptions(
  flags: Partial<Record<keyof ExporterConfig, string>> = {},
  env: NodeJS.ProcessEnv = process.env,
): ExporterConfig {
  return loadOptions(EXPORTER_OPTIONS, flags, env);
}

function loadOptions<T extends Record<string, Option<unknown>>>(
  table: T,
  flags: Partial<Record<keyof T, string>>,
  env: NodeJS.ProcessEnv,
): Values<T> {
  const config: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(table) as [keyof T & string, Option<unknown>][]) {
    const fromFlag = flags[key];
    const fromEnv = env[o.env];
    if (fromFlag !== undefined) config[key] = o.parse(String(fromFlag), o.flag.split(' ')[0] ?? key);
    else if (fromEnv !== undefined && fromEnv !== '') config[key] = o.parse(fromEnv, o.env);
    else config[key] = o.default;
  }
  return config as Values<T>;
}
