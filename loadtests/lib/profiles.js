// Load profiles: plain data, shared by the Node runner (`busbench bench --profile NAME`) and
// the k6 scripts. Plain JavaScript with JSDoc types, so k6 v0.46+ imports it unchanged and
// TypeScript checks it (checkJs). Every number here is a default that a flag can override.
import { HIDDEN_DELAY } from './load-plan.js';

/**
 * @typedef {'every-tab' | 'leader'} TabMode
 *   every-tab: each tab long-polls (Odoo 8). leader: one tab per browser polls and shares
 *   what it gets with the others (Odoo 9-15, a master tab elected through localStorage).
 *   Named as the chat page's modes (TAB_MODES in web/tab-state.ts), of which the simulated
 *   tabs implement these two.
 *
 * @typedef {object} Profile
 * @property {string} name
 * @property {string} description
 * @property {number} users Users simulated; the server seeds exactly this many.
 * @property {number} browsersPerUser Browsers each user has open (each logs in once).
 * @property {number} tabsPerBrowser Tabs per browser; all tabs of a browser share one connection pool.
 * @property {number} connectionsPerOrigin HTTP/1.1 connections a browser opens per origin (6 in every major browser).
 * @property {TabMode} tabMode
 * @property {number} hiddenFraction Share of tabs that are hidden (0-1); in every-tab mode they poll slowly.
 * @property {[number, number, number]} hiddenDelay Hidden tabs wait base + uniform(min, max) seconds between polls.
 * @property {number} warmup Seconds of load before measuring (tabs ramp up during the first half).
 * @property {number} duration Seconds measured.
 * @property {number} drain Seconds, at most, to wait after the last post for messages still on their way.
 * @property {number} rate Chat posts per second for the whole run (open model: posts are due at fixed times).
 * @property {'any' | 'general'} postTo Post to a random channel of the author, or always to "general" (everyone).
 * @property {number} channels Seeded channels; channel 1 "general" has every user.
 * @property {number} channelsPerUser Seeded memberships per user besides "general".
 * @property {number} pollTimeout Seconds a poll with nothing new waits (server and client agree on it).
 * @property {string} presence Server presence strategy (see the README's presence table).
 * @property {string} isolation Server transaction isolation.
 */

/** @type {readonly TabMode[]} */
export const SIMULATED_TAB_MODES = ['every-tab', 'leader'];

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
  hiddenFraction: 0,
  hiddenDelay: HIDDEN_DELAY,
  warmup: 10,
  duration: 40,
  drain: 5,
  /** @type {'any' | 'general'} */
  postTo: 'any',
  pollTimeout: 50,
  presence: 'every-poll',
  isolation: 'repeatable-read',
};

/**
 * A profile: COMMON with its own settings over it.
 * @param {Omit<Profile, keyof typeof COMMON> & Partial<Profile>} own
 * @returns {Profile}
 */
function profile(own) {
  return Object.assign({}, COMMON, own);
}

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
    description: 'seed 000: a few users with 20 tabs each; 14 of every 20 polls queue behind the 6 connections',
    users: 4,
    tabsPerBrowser: 20,
    rate: 2,
    channels: 4,
    channelsPerUser: 1,
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
  }),
  'chat-storm': profile({
    name: 'chat-storm',
    description: 'every post goes to "general": each one wakes every parked poll (broadcast fan-out)',
    users: 60,
    tabsPerBrowser: 2,
    warmup: 5,
    duration: 30,
    rate: 8,
    postTo: 'general',
    channels: 6,
    channelsPerUser: 1,
  }),
  'hidden-tabs': profile({
    name: 'hidden-tabs',
    description: 'the "tabs" load with three of four tabs hidden: they wait 4 s + 1-20 s between polls (seed 000)',
    users: 60,
    tabsPerBrowser: 3,
    hiddenFraction: 0.75,
    rate: 4,
    channels: 12,
    channelsPerUser: 2,
  }),
};

export const PROFILE_NAMES = Object.keys(PROFILES);

/** Shorter phases for `--quick` and CI: the same load, measured for a few seconds. */
export const QUICK = { warmup: 3, duration: 6, drain: 2 };
