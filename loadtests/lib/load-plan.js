// What both load engines decide the same way, written once: when each post is due, which
// simulated tabs are hidden and how long they sleep, when a post counts as late, which due
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

/**
 * How many posts a run makes. Open model: posts are due every 1/rate s from the start
 * through the warm-up and the measurement whatever the server answers, so a slow server
 * cannot slow the load down (coordinated omission). Both ends count, hence the + 1; a
 * profile at rate 0 only polls.
 * @param {Pick<Profile, 'rate' | 'warmup' | 'duration'>} p
 */
export function postCount(p) {
  return p.rate > 0 ? Math.ceil(p.rate * (p.warmup + p.duration)) + 1 : 0;
}

/**
 * When post `i` (0-based) is due, in ms since the epoch: fixed in advance, so latencies are
 * measured from this time rather than from when the post could be sent.
 * @param {number} start When post 0 is due.
 * @param {number} i
 * @param {number} rate Posts per second, > 0.
 */
export function postDue(start, i, rate) {
  return start + (i * 1000) / rate;
}

/**
 * A post sent more than this after it was due counts as behind schedule: the generator, not
 * the server, was late, and the report says so. Timers and the event loop jitter by a few ms.
 */
export const LATE_TOLERANCE_MS = 50;

/**
 * Which tabs of browser number `browser` (0-based) are hidden. Counting the run's tabs browser
 * by browser from 1, tab n is hidden when floor(n * hiddenFraction) steps up at n: over any
 * number of tabs that share is hidden, spread evenly rather than all in the last browsers, and
 * every browser's tabs follow from its number alone, which is all a k6 VU knows. In leader
 * mode the leader (tab 0) stays visible: it polls for its browser, and the chat page hands
 * leadership to a visible tab too.
 * @param {Pick<Profile, 'tabsPerBrowser' | 'hiddenFraction' | 'tabMode'>} p
 * @param {number} browser
 * @returns {boolean[]}
 */
export function hiddenTabs(p, browser) {
  const f = p.hiddenFraction;
  /** @type {boolean[]} */
  const hidden = [];
  for (let t = 0; t < p.tabsPerBrowser; t++) {
    const n = browser * p.tabsPerBrowser + t + 1;
    const stepsUp = Math.floor(n * f) > Math.floor((n - 1) * f);
    hidden.push(stepsUp && !(p.tabMode === 'leader' && t === 0));
  }
  return hidden;
}

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
