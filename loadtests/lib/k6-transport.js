// One simulated browser's network on k6, the Transport that tab.js asks for, and the k6
// run's timers. k6 itself would open a connection per concurrent request; a browser holds at
// most `connectionsPerOrigin` per origin and queues the rest, and so does K6Transport.
import http from 'k6/http';
import { statusKey } from './k6-summary.js';

// Timers are global from k6 v0.50 (k6/experimental/timers before, removed in v0.52): take
// whichever this k6 has, so one script runs on every version. The name is in a variable so
// that nothing resolves the old module statically.
const OLD_TIMERS = 'k6/experimental/timers';
/** @type {(callback: () => void, ms: number) => unknown} */
const setTimer = typeof setTimeout === 'function' ? setTimeout : require(OLD_TIMERS).setTimeout;

/** @param {number} ms */
export const wait = (ms) => new Promise((resolve) => setTimer(() => resolve(undefined), Math.max(0, ms)));

/** @param {number} at ms since the epoch */
export const waitUntil = (at) => wait(at - Date.now());

/** @param {string} url */
const originOf = (url) => {
  const m = /^(https?:\/\/[^/]+)/.exec(url);
  return m ? m[1] : url;
};

/**
 * @typedef {object} TransportMetrics What the transport records.
 * @property {import('k6/metrics').Trend} browserConnections
 * @property {import('k6/metrics').Trend} queued
 * @property {import('k6/metrics').Trend} queuedMs
 * @property {import('k6/metrics').Trend} postQueuedMs
 * @property {import('k6/metrics').Trend} pollLatency
 * @property {import('k6/metrics').Counter} connectionsOpened
 * @property {import('k6/metrics').Counter} requests Tagged endpoint and status.
 */

/**
 * At most `limit` requests per origin on the wire, the rest queued in order, so the 7th tab's
 * poll waits for a connection as in a real browser.
 */
export class K6Transport {
  /**
   * @param {number} limit
   * @param {number} pollTimeout
   * @param {TransportMetrics} metrics
   * @param {(at: number) => boolean} inMeasure Whether a request sent (or answered) at this time is measured.
   */
  constructor(limit, pollTimeout, metrics, inMeasure) {
    this.limit = limit;
    this.timeout = `${pollTimeout + 30}s`;
    this.metrics = metrics;
    this.inMeasure = inMeasure;
    /** @type {Map<string, { busy: number, queue: (() => void)[] }>} */
    this.origins = new Map();
    this.closed = false;
  }

  /** The browser is done: queued requests end unsent (status 0) instead of parking a new poll. */
  close() {
    this.closed = true;
    for (const slot of this.origins.values()) {
      const queue = slot.queue.splice(0);
      for (const next of queue) {
        // Handed a connection as release() would, so its own release() balances the count.
        slot.busy++;
        next();
      }
    }
  }

  /** @param {string} origin */
  async acquire(origin) {
    let slot = this.origins.get(origin);
    if (!slot) {
      slot = { busy: 0, queue: [] };
      this.origins.set(origin, slot);
    }
    if (slot.busy >= this.limit) {
      const s = slot;
      this.metrics.queued.add(s.queue.length + 1);
      await new Promise((resolve) => s.queue.push(() => resolve(undefined)));
    } else {
      slot.busy++;
    }
    this.metrics.browserConnections.add(slot.busy);
    return slot;
  }

  /** @param {{ busy: number, queue: (() => void)[] }} slot */
  release(slot) {
    const next = this.closed ? undefined : slot.queue.shift();
    // The connection goes straight to the next queued request.
    if (next) next();
    else slot.busy--;
  }

  /** @type {import('./tab.js').Transport['request']} */
  async request(method, url, endpoint, body, token) {
    const asked = Date.now();
    const slot = await this.acquire(originOf(url));
    if (this.closed) {
      this.release(slot);
      return { status: 0, body: undefined };
    }
    if (this.inMeasure(asked)) {
      // The wait for a connection, as the Node runner's ConnectionPool measures it.
      this.metrics.queuedMs.add(Date.now() - asked);
      if (endpoint === 'chat.post') this.metrics.postQueuedMs.add(Date.now() - asked);
    }
    /** @type {Record<string, string>} */
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const started = Date.now();
    try {
      const res = await http.asyncRequest(method, url, body === undefined ? null : JSON.stringify(body), {
        headers,
        timeout: this.timeout,
        tags: { endpoint, name: endpoint },
      });
      const answered = Date.now();
      // The Node runner's windows: a connection counts when it opens in the window, a request when it ends in it.
      if (res.timings.connecting > 0 && this.inMeasure(started)) this.metrics.connectionsOpened.add(1);
      if (this.inMeasure(answered)) {
        this.metrics.requests.add(1, { endpoint, status: statusKey(res.status) });
        if (endpoint === 'bus.poll') this.metrics.pollLatency.add(answered - started);
      }
      let parsed;
      try {
        parsed = JSON.parse(String(res.body));
      } catch (_) {
        parsed = undefined;
      }
      return { status: res.status, body: parsed };
    } finally {
      this.release(slot);
    }
  }

  /** @param {number} ms */
  sleep(ms) {
    return wait(ms);
  }

  now() {
    return Date.now();
  }

  random() {
    return Math.random();
  }
}
