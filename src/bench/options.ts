// The measuring side's own settings: what `busbench bench`, `busbench capacity` and
// `busbench db-exporter` take, besides the server settings they pass on to the layouts.
import { ARRIVALS } from '../../loadtests/lib/load-plan.js';
import { normalizeTabMode, PROFILE_NAMES, SIMULATED_TAB_MODES } from '../../loadtests/lib/profiles.js';
import { BUS_TRANSPORTS, type BusTransport } from '../../loadtests/lib/ws-tab.js';
import { TAB_MODES, type TabModeName } from '../../web/tab-state.js';
import { errors } from '../lib/errors.js';
import { flag, integer, listOf, oneOf, option, perSecond, seconds, text, type Values } from '../lib/options.js';
import {
  type ConfigKey,
  DISPATCH_MODES,
  type DispatchMode,
  ISOLATION_LEVELS,
  PRESENCE_STRATEGIES,
  TOPOLOGIES,
  type TopologyName,
} from '../lib/server-options.js';
import type { RunFile } from './results.js';
import { parseThresholds, type Threshold } from './thresholds.js';

/** The faults `--faults` injects (src/bench/faults.ts); kept here so `busbench serve` loads no bench code. */
export const FAULT_KINDS = ['listen-drop', 'backend-kill', 'worker-kill', 'pg-restart'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A comma-separated list of integers >= min, in the order given, each once: a load to sweep. */
function integerList(min: number) {
  return (raw: string, name: string): number[] => {
    const items = raw.split(',').map((s) => s.trim());
    const bad = items.filter((i) => !/^[0-9]+$/.test(i) || Number(i) < min);
    if (bad.length > 0) {
      throw errors.config(
        name,
        `must be one integer >= ${min} or several separated by commas, e.g. 20,40,80 (got "${raw}": ${bad.map((b) => `"${b}"`).join(' and ')} ${bad.length === 1 ? 'is' : 'are'} not)`,
      );
    }
    return [...new Set(items.map(Number))];
  };
}

/** A bench setting whose default (null) keeps the profile's own value. */
function profileOption<T>(env: string, flag: string, doc: string, parse: (raw: string, name: string) => T) {
  return option<T | null>({ env, flag, doc, default: null, parse });
}

/**
 * `busbench bench`: what to run. Profile settings default to null, meaning "the profile's";
 * users, tabs, presence, isolation and dispatch take lists and the bench runs every combination.
 */
/**
 * Who generates the load. Checked against run.json's `engine` by type only: a value import of
 * results.ts would load TypeBox into every `busbench serve`, which reads these tables at start-up.
 */
const ENGINES = ['node', 'k6'] as const satisfies readonly RunFile['engine'][];

export const BENCH_OPTIONS = {
  engine: option({
    env: 'BUSBENCH_ENGINE',
    flag: '--engine <name>',
    doc: 'load generator: node (built in) or k6 (a k6 on PATH runs loadtests/<profile>.js per case)',
    default: 'node' as (typeof ENGINES)[number],
    parse: oneOf(ENGINES),
  }),
  k6Instances: option({
    env: 'BUSBENCH_K6_INSTANCES',
    flag: '--k6-instances <n>',
    doc: "k6 engine: k6 processes per case, each one execution segment of the load (k6's --execution-segment); their run.json files are merged",
    default: 1,
    parse: integer(1),
  }),
  metricsPort: option({
    env: 'BUSBENCH_METRICS_PORT',
    flag: '--metrics-port <n>',
    doc: "node engine: serve the runner's live figures for Prometheus on this port, under k6's metric names (the k6 dashboard); 0: off",
    default: 0,
    parse: integer(0),
  }),
  generatorCpu: option<number | null>({
    env: 'BUSBENCH_GENERATOR_CPU',
    flag: '--generator-cpu <n>',
    doc: "run the load generator (the runner, or k6) on this CPU and the layout and PostgreSQL on the others (Linux, taskset), so the generator's own CPU cannot slow the server it measures (null: all share every CPU)",
    default: null,
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
    doc: "short phases (3 s warm-up, 6 s measured, 2 s drain) for a first look or CI, with the profile's own changes so the window still spans three poll cycles (README's profile table); about a minute for four layouts on a 2-core machine (54 s quiet, 103 s loaded)",
    default: false,
    parse: flag,
  }),
  profileUsers: profileOption(
    'BUSBENCH_BENCH_USERS',
    '--users <list>',
    "simulated users; a comma-separated list (20,40,80) sweeps the load, one case per value (README, Load as an axis) (null: the profile's)",
    integerList(1),
  ),
  browsers: profileOption('BUSBENCH_BROWSERS', '--browsers <n>', "browsers per user (null: the profile's)", integer(1)),
  tabs: profileOption(
    'BUSBENCH_TABS',
    '--tabs <list>',
    "tabs per browser; a comma-separated list sweeps it, crossed with --users (null: the profile's)",
    integerList(1),
  ),
  tabMode: profileOption(
    'BUSBENCH_TAB_MODE',
    '--tab-mode <mode>',
    "every-tab (each tab polls or holds a websocket, Odoo 8), leader (one tab per browser polls, Odoo 9-15; leader-tab, the old spelling, is read as leader) or shared-worker (one connection per browser for all its tabs, Odoo 16+) (null: the profile's)",
    (raw, name) => oneOf(SIMULATED_TAB_MODES)(normalizeTabMode(raw), name),
  ),
  connections: profileOption(
    'BUSBENCH_CONNECTIONS',
    '--connections <n>',
    "HTTP connections per origin in each simulated browser (browsers: 6) (null: the profile's)",
    integer(1),
  ),
  windows: profileOption(
    'BUSBENCH_WINDOWS',
    '--windows <n>',
    "windows per browser: each shows one tab, the browser's other tabs are hidden (null: the profile's)",
    integer(1),
  ),
  hiddenSlowdown: profileOption(
    'BUSBENCH_HIDDEN_SLOWDOWN',
    '--hidden-slowdown <on|off>',
    "on: hidden tabs wait 4 s + 1-20 s between polls (seed 000's fix); off: they poll like visible tabs (null: the profile's)",
    oneOf(['on', 'off'] as const),
  ),
  arrivals: profileOption(
    'BUSBENCH_ARRIVALS',
    '--arrivals <process>',
    "poisson (exponential gaps of mean 1/rate, seeded by --seed) or fixed (one post every 1/rate s, a clock that can synchronise tabs) (null: the profile's, poisson)",
    oneOf(ARRIVALS),
  ),
  seed: profileOption(
    'BUSBENCH_SEED',
    '--seed <n>',
    "seed of the Poisson arrivals: the same seed, the same due times (null: the profile's, 1)",
    integer(0),
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
  benchPresenceInterval: profileOption(
    'BUSBENCH_BENCH_PRESENCE_INTERVAL',
    '--presence-interval <s>',
    "throttled and upsert presence: rewrite a row only when older than this (null: the profile's, 50 as Odoo 8.0, or the poll timeout with --quick)",
    seconds,
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
  transports: option({
    env: 'BUSBENCH_TRANSPORTS',
    flag: '--transport <list>',
    doc: "how tabs hear the bus, compared case by case: longpoll (POST /bus/poll) and/or websocket (/websocket, Odoo 16+); posts go over HTTP either way; with --browser, the chat page's ?transport=",
    default: ['longpoll'] as BusTransport[],
    parse: listOf(BUS_TRANSPORTS),
  }),
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
    default: [...TAB_MODES] as TabModeName[],
    parse: listOf(TAB_MODES),
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
    doc: 'run every case n times; key figures as mean +- spread (standard deviation, half the range with 2 runs) (README, Repeats)',
    default: 1,
    parse: integer(1),
  }),
  faults: option({
    env: 'BUSBENCH_FAULTS',
    flag: '--faults <list>',
    doc: 'node engine: faults injected during the measured window, in turn: listen-drop (terminate the LISTEN connections), backend-kill (terminate pooled backends mid-transaction), worker-kill (SIGKILL a forked worker or the bus process; worker-threads: end one request thread), pg-restart (stop and start the embedded PostgreSQL; with DATABASE_URL, terminate every backend of the case database); empty: none',
    default: [] as FaultKind[],
    parse: (raw, name) => (raw === '' ? [] : listOf(FAULT_KINDS)(raw, name)),
  }),
  faultEvery: option({
    env: 'BUSBENCH_FAULT_EVERY',
    flag: '--fault-every <s>',
    doc: 'with --faults: seconds between faults, and measured after the last one; the measured window grows to fit them',
    default: 10,
    parse: (raw, name) => {
      const value = seconds(raw, name);
      if (value === 0) throw errors.config(name, 'must be more than 0 seconds');
      return value;
    },
  }),
  faultCount: option({
    env: 'BUSBENCH_FAULT_COUNT',
    flag: '--fault-count <n>',
    doc: 'with --faults: how many times each listed fault is injected per case',
    default: 1,
    parse: integer(1),
  }),
  thresholds: option({
    env: 'BUSBENCH_THRESHOLDS',
    flag: '--threshold <expr...>',
    doc: 'k6-style limits on each valid case, comma-separated or repeated, e.g. lost==0: exit 99 if one breaks (README, Thresholds) (null: none)',
    default: null as Threshold[] | null,
    parse: parseThresholds,
  }),
  findMax: option({
    env: 'BUSBENCH_FIND_MAX',
    flag: '--find-max <expr...>',
    doc: 'threshold expressions (as --threshold): per layout, double the users from --users until one breaks or the case is invalid, and report the largest load each layout held (README, Load as an axis) (null: off)',
    default: null as Threshold[] | null,
    parse: parseThresholds,
  }),
  findMaxSteps: option({
    env: 'BUSBENCH_FIND_MAX_STEPS',
    flag: '--find-max-steps <n>',
    doc: 'with --find-max: loads tried per layout at most, the first included (5: up to 16 times the starting users)',
    default: 5,
    parse: integer(1),
  }),
  findMaxUsers: option({
    env: 'BUSBENCH_FIND_MAX_USERS',
    flag: '--find-max-users <n>',
    doc: 'with --find-max: no step goes beyond this many users',
    default: 1000,
    parse: integer(1),
  }),
  out: option({
    env: 'BUSBENCH_RESULTS',
    flag: '--out <dir>',
    doc: 'where the <timestamp>/ folders are written',
    default: 'results',
    parse: text,
  }),
};

/** `busbench capacity`: the scale benchmarks (parked polls, broadcast fan-out, runner cost). */
export const CAPACITY_OPTIONS = {
  capacityTabs: option({
    env: 'BUSBENCH_CAPACITY_TABS',
    flag: '--tabs <list>',
    doc: 'tabs to open against single-process (one per simulated browser), one run per count; a count past the open-file limit is cut to what fits and says so',
    default: [10_000, 50_000],
    parse: integerList(1),
  }),
  capacityTransports: option({
    env: 'BUSBENCH_CAPACITY_TRANSPORTS',
    flag: '--transport <list>',
    doc: 'how the tabs wait, one run each: longpoll (parked POST /bus/poll) and/or websocket (idle subscribed /websocket)',
    default: [...BUS_TRANSPORTS] as BusTransport[],
    parse: listOf(BUS_TRANSPORTS),
  }),
  dispatches: option({
    env: 'BUSBENCH_CAPACITY_DISPATCHES',
    flag: '--dispatch <list>',
    doc: 'dispatch modes to measure, one run each',
    default: [...DISPATCH_MODES] as DispatchMode[],
    parse: listOf(DISPATCH_MODES),
  }),
  ramp: option({
    env: 'BUSBENCH_RAMP',
    flag: '--ramp <s>',
    doc: 'seconds over which the tabs arrive (slower when the logins in flight reach --concurrency)',
    default: 30,
    parse: seconds,
  }),
  concurrency: option({
    env: 'BUSBENCH_CAPACITY_CONCURRENCY',
    flag: '--concurrency <n>',
    doc: 'browsers logging in at once, at most: arrivals wait for a free place instead of piling up',
    default: 200,
    parse: integer(1),
  }),
  portsPerAddress: option({
    env: 'BUSBENCH_PORTS_PER_ADDRESS',
    flag: '--ports-per-address <n>',
    doc: "local ports the runner takes from one loopback source address before it moves to the next (127.0.0.2, ...); 0: ip_local_port_range's size less 1,000",
    default: 0,
    parse: integer(0),
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
  'presenceInterval',
] as const satisfies readonly ConfigKey[];

export type BenchOptions = Values<typeof BENCH_OPTIONS>;
export type CapacityConfig = Values<typeof CAPACITY_OPTIONS>;
export type ExporterConfig = Values<typeof EXPORTER_OPTIONS>;
