// The k6 engine: what loadtests/<profile>.js export. Two scenarios: "browsers", a VU per
// simulated browser (k6-browser.js), and "sampler", one VU reading /metrics each second
// (k6-sampler.js). This file puts them together with k6's options, setup() and handleSummary.
// Every file a script imports must parse on k6 v0.46 (see loadtests/README.md).
import { fail } from 'k6';
import http from 'k6/http';
import { browserVu } from './k6-browser.js';
import { k6Settings } from './k6-env.js';
import { createMetrics } from './k6-metrics.js';
import { samplerVu } from './k6-sampler.js';
import {
  K6_METRICS,
  k6RunFile,
  REQUEST_ENDPOINTS,
  REQUEST_STATUSES,
  requestMetric,
  SUMMARY_TREND_STATS,
} from './k6-summary.js';

/**
 * k6's options: both scenarios, the run's tags, and the thresholds that fail the run.
 * @param {import('./k6-env.js').K6Settings} settings
 */
function k6Options(settings) {
  const profile = settings.profile;
  const M = K6_METRICS;
  /** @type {Record<string, string>} */
  const tags = { topology: settings.topology, profile: profile.name, transport: settings.transport };
  if (settings.testid) tags.testid = settings.testid;
  // Long enough for the last parked polls to come back after the drain (k6 cannot cancel them).
  const maxSeconds = Math.ceil(profile.warmup + profile.duration + profile.drain + profile.pollTimeout + 30);
  /** @type {Record<string, string[]>} */
  const thresholds = {
    [M.lost]: ['count==0'],
    [M.duplicated]: ['count==0'],
    [M.outOfOrder]: ['count==0'],
    http_req_failed: [`rate<${settings.maxErrorRate}`],
  };
  // Always true: they make k6's summary keep the measured requests per endpoint and status.
  for (const endpoint of REQUEST_ENDPOINTS)
    for (const status of REQUEST_STATUSES) thresholds[requestMetric(endpoint, status)] = ['count>=0'];
  return {
    tags,
    summaryTrendStats: SUMMARY_TREND_STATS,
    scenarios: {
      browsers: {
        executor: 'per-vu-iterations',
        exec: 'browser',
        vus: profile.users * profile.browsersPerUser,
        iterations: 1,
        maxDuration: `${maxSeconds}s`,
      },
      sampler: { executor: 'per-vu-iterations', exec: 'sampler', vus: 1, iterations: 1, maxDuration: `${maxSeconds}s` },
    },
    thresholds,
  };
}

/**
 * setup(): asks the layout for its configuration and fixes the run's timeline (t0).
 * @param {import('./k6-env.js').K6Settings} settings
 */
function k6Setup(settings) {
  const { baseUrl, topology } = settings;
  /** @returns {import('./k6-summary.js').SetupData} */
  return function setup() {
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
    const busUrl = (settings.busUrl || (typeof server.bus_url === 'string' ? server.bus_url : baseUrl)).replace(
      /\/$/,
      '',
    );
    return {
      t0: settings.t0 || Date.now(),
      runTag: settings.runTag || `k6-${Date.now().toString(36)}`,
      appUrl: baseUrl,
      busUrl,
      pollTimeout: Number(server.poll_timeout) || settings.profile.pollTimeout,
      server,
    };
  };
}

/**
 * handleSummary(): run.json (busbench's format), k6's own summary, and a few lines on stdout.
 * @param {import('./k6-env.js').K6Settings} settings
 */
function k6HandleSummary(settings) {
  const { baseUrl, outDir, profile, topology } = settings;
  /** @param {any} data */
  return function handleSummary(data) {
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
      testid: settings.testid,
      command: `k6 run loadtests/${settings.scriptProfile}.js`,
      thresholdsFailed,
      transport: settings.transport,
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
  };
}

/**
 * What a loadtests/<profile>.js exports. Called as the script loads (k6's init context), where
 * k6 wants the metrics created.
 * @param {string} scriptProfile
 */
export function k6Script(scriptProfile) {
  const settings = k6Settings(scriptProfile);
  const metrics = createMetrics();
  return {
    options: k6Options(settings),
    setup: k6Setup(settings),
    browser: browserVu(settings, metrics),
    sampler: samplerVu(settings, metrics),
    handleSummary: k6HandleSummary(settings),
  };
}
