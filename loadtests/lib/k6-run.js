// The k6 engine: what loadtests/<profile>.js export. A VU is one browser; its tabs are the
// poll loops of tab.js (the module the Node runner uses), running concurrently on
// http.asyncRequest, and at most `connectionsPerOrigin` requests per origin are on the wire
// at once, as in a browser (k6 itself would open a connection per concurrent request).
// A second scenario, one VU, samples the server's and the database's /metrics each second.
// Plain ES2020 for k6 v0.46 and newer: no private fields, no logical assignment, no static imports
// of modules that only some k6 versions have.
import { sleep as blockingSleep, fail } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Gauge, Trend } from 'k6/metrics';
import { countAgainstHistory } from './delivery.js';
import { K6_METRICS, k6RunFile, SUMMARY_TREND_STATS, TX_METRICS } from './k6-summary.js';
import { PROFILES } from './profiles.js';
import { parsePrometheusText, sum } from './prometheus-text.js';
import { Browser } from './tab.js';

// Timers are global from k6 v0.50 (k6/experimental/timers before, removed in v0.52): take
// whichever this k6 has, so one script runs on every version. The name is in a variable so
// that nothing resolves the old module statically.
const OLD_TIMERS = 'k6/experimental/timers';
/** @type {(callback: () => void, ms: number) => unknown} */
const setTimer = typeof setTimeout === 'function' ? setTimeout : require(OLD_TIMERS).setTimeout;

/** A post whose row was created this long before a tab's answered poll left must have reached it. */
const LOST_MARGIN_MS = 1000;
/** A post sent more than this after it was due counts as behind schedule (as in the Node runner). */
const LATE_TOLERANCE_MS = 50;
const SQLSTATES = { serialization_failures: '40001', deadlocks: '40P01', lock_not_available: '55P03' };

/** @param {string} name @param {string} fallback */
const env = (name, fallback) => (__ENV[name] !== undefined && __ENV[name] !== '' ? __ENV[name] : fallback);

/** @param {string} name @param {number | undefined} fallback */
function numberEnv(name, fallback) {
  const raw = env(name, '');
  if (raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number >= 0 (got "${raw}")`);
  return n;
}

/**
 * The script's profile with the environment applied (see the header of any loadtests/*.js).
 * @param {string} scriptProfile
 * @returns {import('./profiles.js').Profile}
 */
export function resolveProfile(scriptProfile) {
  const name = env('PROFILE', scriptProfile);
  const base = PROFILES[name];
  if (!base) throw new Error(`PROFILE must be one of ${Object.keys(PROFILES).join(', ')} (got "${name}")`);
  const tabMode = env('TAB_MODE', base.tabMode);
  if (tabMode !== 'every-tab' && tabMode !== 'leader-tab')
    throw new Error(`TAB_MODE must be every-tab or leader-tab (got "${tabMode}")`);
  return Object.assign({}, base, {
    users: numberEnv('USERS', base.users),
    browsersPerUser: numberEnv('BROWSERS', base.browsersPerUser),
    tabsPerBrowser: numberEnv('TABS', base.tabsPerBrowser),
    connectionsPerOrigin: numberEnv('CONNECTIONS', base.connectionsPerOrigin),
    tabMode,
    hiddenFraction: numberEnv('HIDDEN', base.hiddenFraction),
    warmup: numberEnv('WARMUP', base.warmup),
    duration: numberEnv('DURATION', base.duration),
    drain: numberEnv('DRAIN', base.drain),
    rate: numberEnv('RATE', base.rate),
  });
}

/** @param {string} url */
const originOf = (url) => {
  const m = /^(https?:\/\/[^/]+)/.exec(url);
  return m ? m[1] : url;
};

/** @param {number} ms */
const wait = (ms) => new Promise((resolve) => setTimer(() => resolve(undefined), Math.max(0, ms)));

/** @param {number} at ms since the epoch */
const waitUntil = (at) => wait(at - Date.now());

/**
 * Creates the metrics (k6 wants them in the init context) and the functions a script exports.
 * @param {string} scriptProfile
 */
export function k6Script(scriptProfile) {
  const profile = resolveProfile(scriptProfile);
  const baseUrl = env('BASE_URL', 'http://127.0.0.1:8069').replace(/\/$/, '');
  const topology = env('TOPOLOGY', 'unknown');
  const testid = env('TESTID', '');
  const outDir = env('OUT_DIR', '.').replace(/\/$/, '');
  const maxErrorRate = numberEnv('MAX_ERROR_RATE', 0.01);
  const browsers = profile.users * profile.browsersPerUser;
  const M = K6_METRICS;

  const metrics = {
    tabs: new Gauge(M.tabs),
    deliveryLatency: new Trend(M.deliveryLatency, true),
    postLatency: new Trend(M.postLatency, true),
    pollLatency: new Trend(M.pollLatency, true),
    postLag: new Trend(M.postLag, true),
    browserConnections: new Trend(M.browserConnections),
    queued: new Trend(M.queued),
    serverSockets: new Trend(M.serverSockets),
    parkedPolls: new Trend(M.parkedPolls),
    dbConnections: new Trend(M.dbConnections),
    /** @type {Record<string, Counter>} */
    counters: {},
  };
  for (const key of [
    'lost',
    'duplicated',
    'finalFailures',
    'polls',
    'latePosts',
    'posts',
    'expected',
    'delivered',
    'pending',
    'outOfOrder',
    'openFailures',
    'connectionsOpened',
    'dbCommits',
    'dbRollbacks',
    'dbDeadlocks',
  ]) {
    metrics.counters[key] = new Counter(/** @type {Record<string, string>} */ (M)[key] || key);
  }
  /** @type {Record<string, Counter>} */
  const txCounters = {};
  for (const [key, name] of Object.entries(TX_METRICS)) txCounters[key] = new Counter(name);
  const c = metrics.counters;

  /** @type {Record<string, string>} */
  const tags = { topology, profile: profile.name };
  if (testid) tags.testid = testid;
  // Long enough for the last parked polls to come back after the drain (k6 cannot cancel them).
  const maxSeconds = Math.ceil(profile.warmup + profile.duration + profile.drain + profile.pollTimeout + 30);

  const options = {
    tags,
    summaryTrendStats: SUMMARY_TREND_STATS,
    scenarios: {
      browsers: {
        executor: 'per-vu-iterations',
        exec: 'browser',
        vus: browsers,
        iterations: 1,
        maxDuration: `${maxSeconds}s`,
      },
      sampler: { executor: 'per-vu-iterations', exec: 'sampler', vus: 1, iterations: 1, maxDuration: `${maxSeconds}s` },
    },
    thresholds: {
      [M.lost]: ['count==0'],
      [M.duplicated]: ['count==0'],
      [M.outOfOrder]: ['count==0'],
      http_req_failed: [`rate<${maxErrorRate}`],
    },
  };

  /** @returns {import('./k6-summary.js').SetupData} */
  function setup() {
    const res = http.get(`${baseUrl}/config`, { tags: { endpoint: 'config', name: 'config' } });
    if (res.status !== 200) {
      fail(
        `GET ${baseUrl}/config answered ${res.status || res.error}: start a layout first (busbench serve) or set BASE_URL`,
      );
    }
    const server = /** @type {Record<string, unknown>} */ (res.json());
    if (topology !== 'unknown' && server.topology !== topology) {
      console.warn(`TOPOLOGY=${topology} but ${baseUrl} serves ${server.topology}: the tags will say ${topology}`);
    }
    // Behind nginx the app and the bus share BASE_URL; without it dedicated-longpoll names its bus port.
    const busUrl = env('BUS_URL', typeof server.bus_url === 'string' ? server.bus_url : baseUrl).replace(/\/$/, '');
    return {
      t0: Date.now(),
      runTag: `k6-${Date.now().toString(36)}`,
      appUrl: baseUrl,
      busUrl,
      pollTimeout: Number(server.poll_timeout) || profile.pollTimeout,
      server,
    };
  }

  /**
   * One browser: log in, start the tabs, post its share of the schedule, drain, check delivery.
   * @param {import('./k6-summary.js').SetupData} data
   */
  async function browser(data) {
    const index = exec.scenario.iterationInTest;
    const measureStart = data.t0 + profile.warmup * 1000;
    const measureEnd = measureStart + profile.duration * 1000;
    const inMeasure = (/** @type {number} */ due) => due >= measureStart && due < measureEnd;
    await waitUntil(data.t0 + (index / browsers) * profile.warmup * 500);

    const transport = new K6Transport(profile.connectionsPerOrigin, data.pollTimeout, metrics, c, inMeasure);
    const tabs = profile.tabsPerBrowser;
    /** @type {boolean[]} */
    const hidden = [];
    for (let t = 0; t < tabs; t++) {
      const n = index * tabs + t + 1;
      const isHidden = Math.floor(n * profile.hiddenFraction) > Math.floor((n - 1) * profile.hiddenFraction);
      hidden.push(isHidden && !(profile.tabMode === 'leader-tab' && t === 0));
    }
    const b = new Browser({
      id: index + 1,
      login: `user${(index % profile.users) + 1}`,
      appUrl: data.appUrl,
      busUrl: data.busUrl,
      tabs,
      tabMode: profile.tabMode,
      hidden,
      hiddenDelay: profile.hiddenDelay,
      pollTimeout: data.pollTimeout,
      runTag: data.runTag,
      transport,
      onReceipt: (r) => {
        if (r.kind === 'duplicate') c.duplicated.add(1);
        if (r.kind === 'out-of-order') c.outOfOrder.add(1);
        if (r.kind === 'first' && r.tab.startedAt > 0 && r.due >= r.tab.startedAt && inMeasure(r.due)) {
          metrics.deliveryLatency.add(r.at - r.due);
        }
      },
      onPoll: (withData) => c.polls.add(1, { result: withData ? 'data' : 'empty' }),
    });
    try {
      await b.open();
    } catch (err) {
      c.openFailures.add(1);
      console.error(`browser ${index + 1}: ${err}`);
      return;
    }
    b.start();

    // Open model: post i is due at t0 + i / rate whatever the answers do; this browser sends every
    // browsers-th post, so all VUs together keep the profile's rate.
    const limit = profile.rate > 0 ? Math.ceil(profile.rate * (profile.warmup + profile.duration)) + 1 : 0;
    /** @type {Promise<void>[]} */
    const sending = [];
    for (let i = index; i < limit; i += browsers) {
      const due = data.t0 + (i * 1000) / profile.rate;
      if (due >= measureEnd) break;
      await waitUntil(due);
      const lag = Date.now() - due;
      if (inMeasure(due)) {
        metrics.postLag.add(lag);
        if (lag > LATE_TOLERANCE_MS) c.latePosts.add(1);
      }
      const tab = b.tabs[Math.floor(Math.random() * b.tabs.length)] || b.tabs[0];
      if (!tab) break;
      sending.push(
        b.post(tab, i + 1, due, profile.postTo).then((sent) => {
          if (sent.reply.status === 201) c.posts.add(1);
          else c.finalFailures.add(1);
          if (inMeasure(due)) metrics.postLatency.add(Date.now() - due);
        }),
      );
    }
    await waitUntil(measureEnd);
    await Promise.all(sending);
    b.reveal();
    await waitUntil(measureEnd + profile.drain * 1000);

    const messages = await history(b, data);
    const count = countAgainstHistory(messages, b, data.runTag, LOST_MARGIN_MS);
    c.expected.add(count.expected);
    c.delivered.add(count.delivered);
    c.lost.add(count.lost);
    c.pending.add(count.pending);
    // The tab loops end after their current request: parked polls come back within the poll timeout.
    await b.stop();
  }

  /**
   * The browser's channels as the server has them, newest first, back to the run's start:
   * the list of posts the delivery check holds the tabs to. Sent outside the tabs' connection
   * cap, like a devtools request, so parked polls do not hold it up.
   * @param {Browser} b @param {import('./k6-summary.js').SetupData} data
   * @returns {Promise<import('./delivery.js').HistoryMessage[]>}
   */
  async function history(b, data) {
    /** @type {import('./delivery.js').HistoryMessage[]} */
    const out = [];
    const params = {
      headers: { authorization: `Bearer ${b.token}` },
      tags: { endpoint: 'chat.history', name: 'chat.history' },
    };
    for (const id of b.channelIds) {
      let before = '';
      for (let page = 0; page < 1000; page++) {
        const res = await http.asyncRequest(
          'GET',
          `${data.appUrl}/channels/${id}/messages?limit=200${before}`,
          null,
          params,
        );
        if (res.status !== 200) {
          console.error(`history of channel ${id}: HTTP ${res.status}`);
          break;
        }
        const body = JSON.parse(String(res.body));
        for (const m of body.messages) out.push(m);
        const oldest = body.messages[0];
        if (body.next_before === null || !oldest || Date.parse(oldest.created_at) < data.t0) break;
        before = `&before=${body.next_before}`;
      }
    }
    return out;
  }

  /**
   * Once a second until the drain ends: the server's and the database's figures, as the Node
   * sampler takes them. Gauges become trends (their max is the peak); counters are read at
   * the measure window's edges.
   * @param {import('./k6-summary.js').SetupData} data
   */
  function sampler(data) {
    const metricsUrl = env('METRICS_URL', `${data.appUrl}/metrics`);
    const dbMetricsUrl = env('DB_METRICS_URL', '');
    const measureStart = data.t0 + profile.warmup * 1000;
    const measureEnd = measureStart + profile.duration * 1000;
    const scrape = (/** @type {string} */ url) => {
      const res = http.get(url, { tags: { endpoint: 'metrics', name: 'metrics' } });
      return res.status === 200 ? parsePrometheusText(String(res.body)) : [];
    };
    /** @type {{ app: import('./prometheus-text.js').PromSample[], db: import('./prometheus-text.js').PromSample[] }[]} */
    const edges = [];
    while (Date.now() < measureEnd + 1000) {
      const app = scrape(metricsUrl);
      const db = dbMetricsUrl ? scrape(dbMetricsUrl) : [];
      metrics.tabs.add(browsers * profile.tabsPerBrowser);
      const now = Date.now();
      if (now >= measureStart && now < measureEnd) {
        metrics.serverSockets.add(sum(app, 'busbench_http_open_sockets'));
        metrics.parkedPolls.add(sum(app, 'busbench_bus_parked_polls'));
        if (dbMetricsUrl) metrics.dbConnections.add(sum(db, 'busbench_db_connections'));
        if (edges.length === 0) edges.push({ app, db });
      } else if (now >= measureEnd && edges.length === 1) {
        edges.push({ app, db });
      }
      blockingSleep(Math.max(0, 1 - ((Date.now() - now) % 1000) / 1000));
    }
    const [begin, end] = edges;
    if (!begin || !end) return;
    /** @param {'app' | 'db'} source @param {string} name @param {Record<string, string>} [match] */
    const delta = (source, name, match) => Math.max(0, sum(end[source], name, match) - sum(begin[source], name, match));
    txCounters.attempts.add(delta('app', 'busbench_tx_attempts_total'));
    txCounters.commits.add(delta('app', 'busbench_tx_commits_total'));
    for (const [key, sqlstate] of Object.entries(SQLSTATES)) {
      txCounters[key].add(delta('app', 'busbench_tx_failures_total', { sqlstate }));
    }
    txCounters.retries.add(delta('app', 'busbench_tx_retries_total'));
    txCounters.final_failures.add(delta('app', 'busbench_tx_final_failures_total'));
    c.dbCommits.add(delta('db', 'busbench_db_xact_commit_total'));
    c.dbRollbacks.add(delta('db', 'busbench_db_xact_rollback_total'));
    c.dbDeadlocks.add(delta('db', 'busbench_db_deadlocks_total'));
  }

  /**
   * run.json (busbench's format), k6's own summary, and a few lines on stdout.
   * @param {any} data
   */
  function handleSummary(data) {
    let thresholdsFailed = false;
    for (const m of Object.values(data.metrics)) {
      for (const t of Object.values(/** @type {any} */ (m).thresholds || {}))
        if (!(/** @type {any} */ (t).ok)) thresholdsFailed = true;
    }
    // k6 hands setup()'s result to handleSummary as setup_data; should a k6 not, the run is still readable.
    const setupData = data.setup_data || {
      t0: Date.now() - data.state.testRunDurationMs,
      runTag: '',
      appUrl: baseUrl,
      busUrl: baseUrl,
      pollTimeout: profile.pollTimeout,
      server: { topology },
    };
    const run = k6RunFile(data, setupData, {
      profile,
      testid,
      command: `k6 run loadtests/${scriptProfile}.js`,
      thresholdsFailed,
    });
    const d = run.cases[0] ? run.cases[0].totals.delivery : undefined;
    const lines = [
      `busbench k6 ${profile.name} on ${topology}: ${d ? `${d.delivered}/${d.expected} deliveries, ${d.lost} lost, ${d.pending} pending, ${d.duplicated} duplicated` : 'no case'}`,
      `thresholds ${thresholdsFailed ? 'FAILED' : 'passed'}; wrote ${outDir}/run.json and ${outDir}/k6-summary.json (busbench report ${outDir})`,
      '',
    ];
    return {
      stdout: lines.join('\n'),
      [`${outDir}/run.json`]: `${JSON.stringify(run, null, 2)}\n`,
      [`${outDir}/k6-summary.json`]: JSON.stringify(data, null, 2),
    };
  }

  return { options, setup, browser, sampler, handleSummary };
}

/**
 * One browser's network on k6: at most `limit` requests per origin on the wire, the rest
 * queued in order, so the 7th tab's poll waits for a connection as in a real browser.
 */
class K6Transport {
  /**
   * @param {number} limit
   * @param {number} pollTimeout
   * @param {{ browserConnections: Trend, queued: Trend, pollLatency: Trend }} trends
   * @param {Record<string, Counter>} counters
   * @param {(due: number) => boolean} inMeasure
   */
  constructor(limit, pollTimeout, trends, counters, inMeasure) {
    this.limit = limit;
    this.timeout = `${pollTimeout + 30}s`;
    this.trends = trends;
    this.counters = counters;
    this.inMeasure = inMeasure;
    /** @type {Map<string, { busy: number, queue: (() => void)[] }>} */
    this.origins = new Map();
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
      this.trends.queued.add(s.queue.length + 1);
      await new Promise((resolve) => s.queue.push(() => resolve(undefined)));
    } else {
      slot.busy++;
    }
    this.trends.browserConnections.add(slot.busy);
    return slot;
  }

  /** @param {{ busy: number, queue: (() => void)[] }} slot */
  release(slot) {
    const next = slot.queue.shift();
    // The connection goes straight to the next queued request.
    if (next) next();
    else slot.busy--;
  }

  /** @type {import('./tab.js').Transport['request']} */
  async request(method, url, endpoint, body, token) {
    const slot = await this.acquire(originOf(url));
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
      if (res.timings.connecting > 0) this.counters.connectionsOpened.add(1);
      if (endpoint === 'bus.poll' && this.inMeasure(started)) this.trends.pollLatency.add(Date.now() - started);
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
