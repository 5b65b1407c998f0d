// Load profiles: plain data, shared by the Node runner (`busbench bench --profile NAME`) and
// the k6 scripts. Plain JavaScript with JSDoc types, so k6 v0.46+ imports it unchanged and
// TypeScript checks it (checkJs). Every number here is a default that a flag can override.
import { HIDDEN_DELAY } from './load-plan.js';

/**
 * @typedef {'every-tab' | 'leader' | 'shared-worker'} TabMode
 *   every-tab: each tab long-polls (Odoo 8), or holds its own websocket. leader: one tab per
 *   browser polls and shares what it gets with the others (Odoo 9-15, a master tab elected
 *   through localStorage). shared-worker: one connection per browser, held by a SharedWorker
 *   for all its tabs (Odoo 16+, with the websocket transport); on the wire the simulated
 *   tabs do the same as leader. Named as the chat page's modes (TAB_MODES in web/tab-state.ts).
 *
 * @typedef {object} Profile
 * @property {string} name
 * @property {string} description
 * @property {number} users Users simulated; the server seeds exactly this many.
 * @property {number} browsersPerUser Browsers each user has open (each logs in once).
 * @property {number} tabsPerBrowser Tabs per browser; all tabs of a browser share one connection pool.
 * @property {number} connectionsPerOrigin HTTP/1.1 connections a browser opens per origin (6 in every major browser).
 * @property {TabMode} tabMode
 * @property {number} windowsPerBrowser Windows each browser has open; each shows one tab, its other tabs are hidden (hiddenTabs in load-plan.js).
 * @property {boolean} hiddenSlowdown Hidden tabs wait hiddenDelay between polls instead of holding a poll (seed 000's fix; every-tab mode).
 * @property {[number, number, number]} hiddenDelay Hidden tabs wait base + uniform(min, max) seconds between polls.
 * @property {number} warmup Seconds of load before measuring (tabs ramp up during the first half).
 * @property {number} duration Seconds measured.
 * @property {number} drain Seconds, at most, to wait after the last post for messages still on their way.
 * @property {number} rate Chat posts per second for the whole run (open model: due times are fixed in advance).
 * @property {import('./load-plan.js').Arrivals} arrivals Poisson arrivals of that rate (default), or a fixed clock.
 * @property {number} seed Seeds the Poisson arrivals: the same seed gives the same due times.
 * @property {'any' | 'general'} postTo Post to a random channel of the author, or always to "general" (everyone).
 * @property {number} channels Seeded channels; channel 1 "general" has every user.
 * @property {number} channelsPerUser Seeded memberships per user besides "general".
 * @property {number} pollTimeout Seconds a poll with nothing new waits (server and client agree on it).
 * @property {string} presence Server presence strategy (PRESENCE_STRATEGY_DOCS in src/app/presence.ts).
 * @property {number} presenceInterval Seconds: throttled and upsert presence rewrite a row only when it is older (Odoo 8.0: TIMEOUT, 50).
 * @property {'' | 'odoo-8.0'} retryPreset Server retry settings by name (RETRY_PRESETS in src/lib/server-options.ts); '': the server's flags.
 * @property {string} isolation Server transaction isolation.
 * @property {Partial<Profile>} quick What `--quick` changes besides QUICK, so that its window still spans
 *   three poll cycles: a shorter poll timeout, or a longer window.
 */

/** @type {readonly TabMode[]} */
export const SIMULATED_TAB_MODES = ['every-tab', 'leader', 'shared-worker'];

/**
 * A tab mode as a flag or TAB_MODE spells it: 'leader-tab', the old name of 'leader', reads
 * as 'leader' so that existing command lines keep working. Other names pass unchanged, for
 * the caller to reject.
 * @param {string} raw
 */
export function normalizeTabMode(raw) {
  return raw === 'leader-tab' ? 'leader' : raw;
}

/** What every profile shares unless it says otherwise. */
const COMMON = {
  browsersPerUser: 1,
  connectionsPerOrigin: 6,
  /** @type {TabMode} */
  tabMode: 'every-tab',
  windowsPerBrowser: 1,
  hiddenSlowdown: false,
  hiddenDelay: HIDDEN_DELAY,
  warmup: 10,
  // Three cycles of the 50 s poll timeout.
  duration: 150,
  drain: 5,
  /** @type {import('./load-plan.js').Arrivals} */
  arrivals: 'poisson',
  seed: 1,
  /** @type {'any' | 'general'} */
  postTo: 'any',
  pollTimeout: 50,
  presence: 'every-poll',
  presenceInterval: 50,
  /** @type {'' | 'odoo-8.0'} */
  retryPreset: '',
  isolation: 'repeatable-read',
  /** @type {Partial<Profile>} */
  quick: { pollTimeout: 2 },
};

/**
 * A profile: COMMON with its own settings over it.
 * @param {Omit<Profile, keyof typeof COMMON> & Partial<Profile>} own
 * @returns {Profile}
 */
function profile(own) {
  return Object.assign({}, COMMON, own);
}

/**
 * Seed 000 (20 tabs per browser, Odoo 8.0 behind the browser's 6 connections): 8.0 presence
 * (write when last_poll is older than TIMEOUT, which the quick run shortens with the poll
 * timeout) and 8.0's retry of the whole poll with a 1 s backoff base; two windows per browser,
 * so 18 of 20 tabs are hidden.
 */
const SEED_000 = {
  users: 6,
  tabsPerBrowser: 20,
  windowsPerBrowser: 2,
  rate: 1,
  channels: 4,
  channelsPerUser: 1,
  presence: 'throttled',
  /** @type {'odoo-8.0'} */
  retryPreset: 'odoo-8.0',
  // Queued posts wait for parked polls to cycle: two poll timeouts, and some.
  drain: 105,
  // 20 s, not QUICK's 6: at 1 post/s a 6 s window held one post (the seed's draw), so the
  // delivery and post latencies of the quick run rested on a single post; 20 s holds 18.
  quick: { pollTimeout: 2, presenceInterval: 2, duration: 20, drain: 5 },
};

/** @type {Record<string, Profile>} */
export const PROFILES = {
  tabs: profile({
    name: 'tabs',
    description: 'the default: many users with three tabs each, long-polling, chatting at a steady rate',
    users: 60,
    tabsPerBrowser: 3,
    rate: 4,
    channels: 12,
    channelsPerUser: 2,
  }),
  'many-tabs': profile({
    name: 'many-tabs',
    description:
      'seed 000: a few users with 20 tabs each; 14 of every 20 polls, and the posts, queue behind the 6 connections',
    users: 4,
    tabsPerBrowser: 20,
    windowsPerBrowser: 2,
    rate: 2,
    channels: 4,
    channelsPerUser: 1,
    drain: 105,
    quick: { pollTimeout: 2, drain: 5 },
  }),
  'presence-storm': profile({
    name: 'presence-storm',
    description: "short polls from many tabs per user: every poll rewrites its user's presence row",
    users: 20,
    browsersPerUser: 2,
    tabsPerBrowser: 4,
    warmup: 5,
    duration: 30,
    rate: 1,
    channels: 6,
    channelsPerUser: 1,
    pollTimeout: 1,
    // As seed-000's: at 1 post/s QUICK's 6 s window held one post; 20 s holds 18.
    quick: { duration: 20 },
  }),
  'chat-storm': profile({
    name: 'chat-storm',
    description: 'every post goes to "general": each one wakes every parked poll (broadcast fan-out)',
    users: 60,
    tabsPerBrowser: 2,
    warmup: 5,
    rate: 8,
    postTo: 'general',
    channels: 6,
    channelsPerUser: 1,
  }),
  'hidden-tabs': profile({
    name: 'hidden-tabs',
    description: 'the "tabs" load, two of three tabs hidden: they wait 4 s + 1-20 s between polls (seed 000\'s fix)',
    users: 60,
    tabsPerBrowser: 3,
    hiddenSlowdown: true,
    rate: 4,
    channels: 12,
    channelsPerUser: 2,
    // Three cycles of a hidden tab: 24 s asleep at most, then a poll of up to 50 s.
    duration: 225,
    quick: { pollTimeout: 2, duration: 78 },
  }),
  'seed-000': profile(
    Object.assign({}, SEED_000, {
      name: 'seed-000',
      description:
        'seed 000 as reported: Odoo 8.0 presence and retry, 20 tabs a browser, hidden tabs poll like the rest',
    }),
  ),
  'seed-000-slow-hidden': profile(
    Object.assign({}, SEED_000, {
      name: 'seed-000-slow-hidden',
      description: "seed 000 with its author's fix: hidden tabs wait 4 s + 1-20 s between polls",
      hiddenSlowdown: true,
      duration: 225,
      quick: { pollTimeout: 2, presenceInterval: 2, duration: 78, drain: 5 },
    }),
  ),
};

export const PROFILE_NAMES = Object.keys(PROFILES);

/**
 * Shorter phases for `--quick` and CI: the same load, measured for a few seconds. A profile's
 * own `quick` settings go over these; with them every window still spans three poll cycles.
 */
export const QUICK = { warmup: 3, duration: 6, drain: 2 };

/**
 * A profile as `--quick` runs it.
 * @param {Profile} p
 * @returns {Profile}
 */
export function quickProfile(p) {
  return Object.assign({}, p, QUICK, p.quick);
}
