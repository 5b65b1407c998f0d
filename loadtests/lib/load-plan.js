// What both load engines decide the same way, written once: when each post is due, which
// simulated tabs are hidden and how long they sleep, how long a poll cycle is (the measured
// window spans at least three), when a post counts as late, which due
// times are measured, and which SQLSTATEs the samplers count. The Node runner
// (src/bench/runner.ts, src/bench/sampler.ts) and the k6 scripts (k6-*.js) import it, so a
// k6 run and a Node run of one profile put the same load on the server and are measured alike.
// Plain JavaScript that k6 v0.46 parses, like the other lib files (see loadtests/README.md).

/**
 * @typedef {import('./profiles.js').Profile} Profile
 *
 * @typedef {object} Window A time window in ms since the epoch, start included, end excluded.
 * @property {number} start
 * @property {number} end
 */

/** @typedef {'poisson' | 'fixed'} Arrivals How posts arrive: see postOffsets. */

/** @type {readonly Arrivals[]} */
export const ARRIVALS = ['poisson', 'fixed'];

/**
 * A seeded uniform generator in [0, 1) (mulberry32): the same seed gives the same sequence in
 * every engine and every k6 VU, so a run's arrival times can be reproduced.
 * @param {number} seed
 * @returns {() => number}
 */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * When each post is due, in ms after the run's start, fixed in advance for the whole run (open
 * model): a slow server cannot slow the load down (coordinated omission), and latencies are
 * measured from these times rather than from when a post could be sent. Posts cover the
 * warm-up and the measurement.
 * - 'poisson': a Poisson process of the profile's rate: exponential gaps of mean 1/rate s,
 *   drawn from `seed`. Real arrivals are irregular; a fixed clock that divides the poll
 *   timeout wakes every tab of a user in the same instant and manufactures conflicts.
 * - 'fixed': one post every 1/rate s from 0, both ends counted.
 * A profile at rate 0 only polls.
 * @param {Pick<Profile, 'rate' | 'warmup' | 'duration' | 'arrivals' | 'seed'>} p
 * @returns {number[]}
 */
export function postOffsets(p) {
  const spanMs = (p.warmup + p.duration) * 1000;
  /** @type {number[]} */
  const out = [];
  if (!(p.rate > 0)) return out;
  if (p.arrivals === 'fixed') {
    const count = Math.ceil(p.rate * (p.warmup + p.duration)) + 1;
    for (let i = 0; i < count; i++) out.push((i * 1000) / p.rate);
    return out;
  }
  const random = seededRandom(p.seed);
  // Bounded: the expected count is rate x span; ten times that is beyond any real draw.
  const limit = Math.ceil(p.rate * (p.warmup + p.duration) * 10) + 10;
  for (let at = 0; out.length < limit; ) {
    at += (-Math.log(1 - random()) * 1000) / p.rate;
    if (at > spanMs) break;
    out.push(at);
  }
  return out;
}

/**
 * @typedef {object} PostAuthor Who makes one post of the schedule.
 * @property {number} browser Index of the browser (0-based, browser i is user (i % users) + 1's).
 * @property {number} tab Index of the tab in that browser.
 * @property {number} channel Uniform in [0, 1): which of the user's channels (Browser.post).
 */

/**
 * Who makes each post of postOffsets(p), drawn once from the seed, so both engines make the
 * same post from the same tab to the same channel. Each post picks its browser uniformly and
 * independently: every browser then posts as a Poisson process of rate / browsers, as
 * independent people do. k6 used to hand the posts out in turn, so by the end of a 15 s
 * default case 57 of its 60 browsers had posted and opened a 4th connection for it, where the
 * Node runner's random picks reached about 35 (server peaks 238-244 vs 212-222); each engine
 * also drew its own channels, and which channel a post wakes decides how many tabs write
 * presence at once.
 * @param {Pick<Profile, 'seed' | 'users' | 'browsersPerUser' | 'tabsPerBrowser'>} p
 * @param {number} count How many posts (postOffsets(p).length).
 * @returns {PostAuthor[]}
 */
export function postAuthors(p, count) {
  // Its own stream, so the authors of the first posts do not depend on how many are due.
  const random = seededRandom((p.seed ^ 0x5bd1e995) >>> 0);
  const browsers = Math.max(1, p.users * p.browsersPerUser);
  const tabs = Math.max(1, p.tabsPerBrowser);
  /** @type {PostAuthor[]} */
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push({
      browser: Math.floor(random() * browsers),
      tab: Math.floor(random() * tabs),
      channel: random(),
    });
  }
  return out;
}

/**
 * A post sent more than this after it was due counts as behind schedule: the generator, not
 * the server, was late, and the report says so. Timers and the event loop jitter by a few ms.
 */
export const LATE_TOLERANCE_MS = 50;

/**
 * Which tabs of a browser are hidden, as a person uses one: each window shows one tab, the
 * rest of its tabs are hidden (document.hidden). A browser's tabs are split into
 * `windowsPerBrowser` windows of consecutive tabs, as even as they go; the first tab of each
 * window is the one looked at. Tab 0 is always visible, so in leader mode the leader (which
 * the chat page hands to a visible tab) is too. Every browser is alike, which is all a k6 VU
 * needs to know.
 * @param {Pick<Profile, 'tabsPerBrowser' | 'windowsPerBrowser'>} p
 * @returns {boolean[]}
 */
export function hiddenTabs(p) {
  const windows = Math.max(1, Math.min(p.windowsPerBrowser, p.tabsPerBrowser));
  /** @type {boolean[]} */
  const hidden = [];
  for (let t = 0; t < p.tabsPerBrowser; t++) {
    const w = Math.floor((t * windows) / p.tabsPerBrowser);
    const first = Math.ceil((w * p.tabsPerBrowser) / windows);
    hidden.push(t !== first);
  }
  return hidden;
}

/**
 * The longest a tab goes between two polls, in seconds: a parked poll comes back after the
 * poll timeout at the latest, and a hidden tab that slows down sleeps up to base + max
 * seconds before the next. A measured window shorter than three of these can end before
 * parked polls cycle (seed 000's "0 posts").
 * @param {Pick<Profile, 'pollTimeout' | 'hiddenSlowdown' | 'hiddenDelay' | 'tabsPerBrowser' | 'windowsPerBrowser'>} p
 */
export function pollCycleSeconds(p) {
  const slowTabs = p.hiddenSlowdown && hiddenTabs(p).some((h) => h);
  return p.pollTimeout + (slowTabs ? p.hiddenDelay[0] + p.hiddenDelay[2] : 0);
}

/** Poll cycles every measured window spans at least. */
export const MIN_POLL_CYCLES = 3;

/**
 * Seconds a hidden tab waits between polls, as [base, min, max]: base + uniform(min, max).
 * Seed 000's author made hidden tabs wait 4 s + 1-20 s instead of holding a parked poll; the
 * profiles default to that.
 * @type {[number, number, number]}
 */
export const HIDDEN_DELAY = [4, 1, 20];

/**
 * How long a hidden tab sleeps before its next poll, in ms.
 * @param {[number, number, number]} delay [base, min, max] seconds, as HIDDEN_DELAY.
 * @param {number} random Uniform in [0, 1).
 */
export function hiddenPollDelayMs(delay, random) {
  const [base, min, max] = delay;
  return (base + min + random * (max - min)) * 1000;
}

/**
 * The measure window of a run whose timeline starts at `t0`: after the warm-up, `duration`
 * seconds long. The k6 VUs cannot tell each other when the phases change, so each derives
 * the window from setup()'s t0; the Node runner marks it when it changes phase.
 * @param {number} t0
 * @param {Pick<Profile, 'warmup' | 'duration'>} p
 * @returns {Window}
 */
export function measureWindow(t0, p) {
  const start = t0 + p.warmup * 1000;
  return { start, end: start + p.duration * 1000 };
}

/**
 * Whether a due time (or a sample's time) is measured: posts due in the window count in the
 * figures even when they arrive after it; those due before it are warm-up.
 * @param {number} at
 * @param {Window} w
 */
export function isMeasured(at, w) {
  return at >= w.start && at < w.end;
}

/**
 * k6's delivery check compares a tab's polls with the server's history, where only the
 * message row's creation time is known, not when the post was acknowledged: a post counts as
 * lost only if a tab's answered poll left this long after the row was created (the row
 * commits a few ms after that), otherwise as pending.
 */
export const LOST_MARGIN_MS = 1000;

/**
 * The failure SQLSTATEs that the app's busbench_tx_failures_total counts by label, under the
 * names run.json gives them. PostgreSQL has no counter for them, so the samplers read the app's.
 */
export const SQLSTATES = Object.freeze({
  serialization_failures: '40001',
  deadlocks: '40P01',
  lock_not_available: '55P03',
});
