// The settings of a serving layout: the flags of `busbench serve`, which are also how the
// bench starts a layout as a child process. The app core reads its Config from here; the
// vocabulary (layouts, presence strategies, isolation levels, dispatch modes) is defined once.
import { flag, integer, loadOptions, oneOf, option, seconds, text, type Values } from './options.js';

export const TOPOLOGIES = ['single-process', 'worker-threads', 'cluster-fork', 'dedicated-longpoll'] as const;
export type TopologyName = (typeof TOPOLOGIES)[number];

/** Presence strategies, each named after the Odoo version whose behaviour it models. */
export const PRESENCE_STRATEGIES = ['every-poll', 'throttled', 'rollback-on-conflict', 'nowait', 'upsert'] as const;
export type PresenceStrategy = (typeof PRESENCE_STRATEGIES)[number];

export const ISOLATION_LEVELS = ['read-committed', 'repeatable-read', 'serializable'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/**
 * What a conflict in the poll's presence write retries: 'transaction', that write alone (its
 * own unit of work, as db.transaction retries every write); 'whole-request', the whole poll
 * call, as Odoo 8.0's service layer re-ran `/longpolling/poll` after a 40001.
 */
export const POLL_RETRY_SCOPES = ['transaction', 'whole-request'] as const;
export type PollRetryScope = (typeof POLL_RETRY_SCOPES)[number];

export const DISPATCH_MODES = ['per-waiter', 'shared'] as const;
export type DispatchMode = (typeof DISPATCH_MODES)[number];

/** dedicated-longpoll: the bus behind the kit's front on the app's origin (Odoo behind its proxy), or on its own. */
export const BUS_ORIGINS = ['same', 'separate'] as const;
export type BusOrigin = (typeof BUS_ORIGINS)[number];

/**
 * What a membership change writes (seed 003): 'membership-only', the relation row alone (the
 * relation written from the member's side); 'hot-row', also the channel row's write_date and
 * stored member count, as the ORM does when the relation is written from the channel's side.
 */
export const MEMBERSHIP_WRITES = ['membership-only', 'hot-row'] as const;
export type MembershipWrite = (typeof MEMBERSHIP_WRITES)[number];

export const CACHE_SIGNALING = ['on', 'off'] as const;
export type CacheSignaling = (typeof CACHE_SIGNALING)[number];

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
  busOrigin: option({
    env: 'BUSBENCH_BUS_ORIGIN',
    flag: '--bus-origin <where>',
    doc: "dedicated-longpoll only: same (a front on --port routes /bus/* to the bus process, as Odoo's proxy does: one origin, 6 browser connections) or separate (clients reach the bus at --bus-port, a second origin)",
    default: 'same' as BusOrigin,
    parse: oneOf(BUS_ORIGINS),
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
    doc:
      'worker-threads: request threads, each with an equal share of the one --pool-size pool (at most --pool-size); ' +
      '0: half of --pool-size, as Odoo 12+ caps request threads at db_maxconn // 2 unless ODOO_MAX_HTTP_THREADS is set',
    default: 0,
    parse: integer(0),
  }),
  pollHoldsThread: option({
    env: 'BUSBENCH_POLL_HOLDS_THREAD',
    flag: '--poll-holds-thread <bool>',
    doc:
      'worker-threads: true makes a parked poll keep its request thread (a fixed-thread-pool server: --threads ' +
      'bounds concurrent polls and later requests queue); false: it waits in the main thread, as in Odoo 12+',
    default: false,
    parse: flag,
  }),
  poolSize: option({
    env: 'BUSBENCH_POOL_SIZE',
    flag: '--pool-size <n>',
    doc: 'database connections per serving process, shared out among its threads in worker-threads (pg default 10; Odoo db_maxconn is 64)',
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
    doc: 'parked polls allowed per process (then 503 E_TOO_MANY_POLLS); in worker-threads also requests queued for a thread (then 503 E_BUSY)',
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
  pollRetry: option({
    env: 'BUSBENCH_POLL_RETRY',
    flag: '--poll-retry <scope>',
    doc: "what a conflict in the poll's presence write retries: transaction (that write alone) or whole-request (the whole poll call, Odoo 8.0)",
    default: 'transaction' as PollRetryScope,
    parse: oneOf(POLL_RETRY_SCOPES),
  }),
  notifyBeforeCommit: option({
    env: 'BUSBENCH_NOTIFY_BEFORE_COMMIT',
    flag: '--notify-before-commit <bool>',
    doc:
      "models Odoo 8.0's bug (seed 002): true sends a post's NOTIFY on another connection before the post commits, " +
      'so a woken poll may fetch before the row is visible (an empty wake-up) and get it only at a later wake-up or ' +
      'its timeout; false: NOTIFY after the commit (Odoo 12+)',
    default: false,
    parse: flag,
  }),
  skipUnwrap: option({
    env: 'BUSBENCH_SKIP_UNWRAP',
    flag: '--skip-unwrap <bool>',
    doc:
      "models seed 003's swallowed retry: true stops the retry looking inside an application error, so a 40001 " +
      "that the membership check re-raised as a validation error (Odoo's @api.constrains) is not retried and the " +
      'user gets 422 E_VALIDATION; false: the cause is found and the change retried',
    default: false,
    parse: flag,
  }),
  membershipWrite: option({
    env: 'BUSBENCH_MEMBERSHIP_WRITE',
    flag: '--membership-write <mode>',
    doc:
      "what a membership change writes (seed 003): membership-only (the relation row) or hot-row (also the channel's " +
      'write_date and member count, as the ORM does writing the relation from the channel: concurrent changes of ' +
      'one channel queue on its row and, at repeatable read, fail with 40001)',
    default: 'membership-only' as MembershipWrite,
    parse: oneOf(MEMBERSHIP_WRITES),
  }),
  cacheSignaling: option({
    env: 'BUSBENCH_CACHE_SIGNALING',
    flag: '--cache-signaling <mode>',
    doc:
      "cross-process membership cache (seed 004): on reads the cache_signaling sequence at every request's start " +
      '(one query) and bumps it after a membership change, as Odoo does; off models a deployment without ' +
      'signaling: other processes keep deciding on their stale cache',
    default: 'on' as CacheSignaling,
    parse: oneOf(CACHE_SIGNALING),
  }),
  wsPingInterval: option({
    env: 'BUSBENCH_WS_PING_INTERVAL',
    flag: '--ws-ping-interval <s>',
    doc: 'a websocket that sent nothing for this long gets a ping, and is closed if nothing comes back within as long again (Odoo 16: 45); 0: never ping',
    default: 45,
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

export type Config = Values<typeof OPTIONS>;
export type ConfigKey = keyof Config;

/**
 * Retry settings by the Odoo version that used them, for a profile to name. 'odoo-8.0': a 40001
 * in a poll re-runs the whole poll call, up to 5 tries, sleeping uniform(0, 2^n) s before
 * retry n (backoff base 1 s; the kit's default base is 0.01 s to keep runs short).
 */
export const RETRY_PRESETS = {
  'odoo-8.0': { pollRetry: 'whole-request', maxTries: 5, retryBase: 1 },
} as const satisfies Record<string, Partial<Config>>;
export type RetryPreset = keyof typeof RETRY_PRESETS;

/** Defaults, overridden by the environment, overridden by flags (already-parsed strings). */
export function loadConfig(
  flags: Partial<Record<ConfigKey, string>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  return loadOptions(OPTIONS, flags, env);
}
