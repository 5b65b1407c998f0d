// What a k6 run reads from its environment (-e NAME=value), in one place: the header of every
// loadtests/*.js documents each name read here, and test/k6.test.ts checks that it does.
import { ARRIVALS } from './load-plan.js';
import { normalizeTabMode, PROFILES, SIMULATED_TAB_MODES } from './profiles.js';
import { BUS_TRANSPORTS } from './ws-tab.js';

/**
 * @typedef {object} K6Settings
 * @property {string} scriptProfile The profile the script is named after.
 * @property {import('./profiles.js').Profile} profile With the environment applied.
 * @property {string} baseUrl The layout's app origin, no trailing slash.
 * @property {string} busUrl BUS_URL as given, or '' for the bus_url GET /config names.
 * @property {string} topology
 * @property {string} testid
 * @property {string} outDir No trailing slash.
 * @property {number} maxErrorRate
 * @property {string} metricsUrl The layout's Prometheus metrics.
 * @property {string} dbMetricsUrl A db-exporter's metrics, or ''.
 * @property {number} t0 When the run's timeline starts (ms since the epoch), or 0 for setup()'s clock.
 * @property {string} runTag Marks the run's posts, or '' for one setup() makes up.
 * @property {string} doneUrl Told (POST) when a browser's delivery check is done, or ''.
 * @property {import('./ws-tab.js').BusTransport} transport How the tabs hear the bus: long polls or websockets.
 */

/** @param {string} name @param {string} fallback */
const env = (name, fallback) => (__ENV[name] !== undefined && __ENV[name] !== '' ? __ENV[name] : fallback);

/** @param {string} name @param {number} fallback */
function numberEnv(name, fallback) {
  const raw = env(name, '');
  if (raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number >= 0 (got "${raw}")`);
  return n;
}

/** @param {string} url */
const withoutSlash = (url) => url.replace(/\/$/, '');

/**
 * The script's profile with the environment applied (see the header of any loadtests/*.js).
 * @param {string} scriptProfile
 * @returns {import('./profiles.js').Profile}
 */
export function resolveProfile(scriptProfile) {
  const name = env('PROFILE', scriptProfile);
  const base = PROFILES[name];
  if (!base) throw new Error(`PROFILE must be one of ${Object.keys(PROFILES).join(', ')} (got "${name}")`);
  const rawArrivals = env('ARRIVALS', base.arrivals);
  const arrivals = ARRIVALS.find((a) => a === rawArrivals);
  if (!arrivals) throw new Error(`ARRIVALS must be one of ${ARRIVALS.join(', ')} (got "${rawArrivals}")`);
  const rawSlowdown = env('HIDDEN_SLOWDOWN', base.hiddenSlowdown ? 'on' : 'off');
  if (rawSlowdown !== 'on' && rawSlowdown !== 'off')
    throw new Error(`HIDDEN_SLOWDOWN must be on or off (got "${rawSlowdown}")`);
  const raw = env('TAB_MODE', base.tabMode);
  const wanted = normalizeTabMode(raw);
  const tabMode = SIMULATED_TAB_MODES.find((m) => m === wanted);
  if (!tabMode) throw new Error(`TAB_MODE must be one of ${SIMULATED_TAB_MODES.join(', ')} (got "${raw}")`);
  return Object.assign({}, base, {
    users: numberEnv('USERS', base.users),
    browsersPerUser: numberEnv('BROWSERS', base.browsersPerUser),
    tabsPerBrowser: numberEnv('TABS', base.tabsPerBrowser),
    connectionsPerOrigin: numberEnv('CONNECTIONS', base.connectionsPerOrigin),
    tabMode,
    windowsPerBrowser: numberEnv('WINDOWS', base.windowsPerBrowser),
    hiddenSlowdown: rawSlowdown === 'on',
    warmup: numberEnv('WARMUP', base.warmup),
    duration: numberEnv('DURATION', base.duration),
    drain: numberEnv('DRAIN', base.drain),
    rate: numberEnv('RATE', base.rate),
    arrivals,
    seed: numberEnv('SEED', base.seed),
  });
}

/**
 * @param {string} raw
 * @returns {import('./ws-tab.js').BusTransport}
 */
function busTransport(raw) {
  const found = BUS_TRANSPORTS.find((t) => t === raw);
  if (!found) throw new Error(`TRANSPORT must be one of ${BUS_TRANSPORTS.join(', ')} (got "${raw}")`);
  return found;
}

/**
 * Everything the run takes from its environment. Read in the init context, so every VU's
 * runtime (each reads its own copy of __ENV) comes to the same settings.
 * @param {string} scriptProfile
 * @returns {K6Settings}
 */
export function k6Settings(scriptProfile) {
  const baseUrl = withoutSlash(env('BASE_URL', 'http://127.0.0.1:8069'));
  return {
    scriptProfile,
    profile: resolveProfile(scriptProfile),
    baseUrl,
    busUrl: env('BUS_URL', ''),
    topology: env('TOPOLOGY', 'unknown'),
    testid: env('TESTID', ''),
    outDir: withoutSlash(env('OUT_DIR', '.')),
    maxErrorRate: numberEnv('MAX_ERROR_RATE', 0.01),
    metricsUrl: env('METRICS_URL', `${baseUrl}/metrics`),
    dbMetricsUrl: env('DB_METRICS_URL', ''),
    // Instances of one distributed run must share the timeline and the tag on their posts.
    t0: numberEnv('T0', 0),
    runTag: env('RUN_TAG', ''),
    doneUrl: env('DONE_URL', ''),
    transport: busTransport(env('TRANSPORT', 'longpoll')),
  };
}
