// The k6 side: the scripts' contract (one per profile, every env option in the header), the
// summary they turn into run.json, the delivery check they run against the server's history,
// and `busbench bench --engine k6` on the real k6 (../shared/tools/k6 is put on PATH by
// .ci/run; without k6 these fail under CI=true). The scripts' types are checked by
// `npm run lint` (tsc -p loadtests, against @types/k6), their syntax by `k6 inspect`.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { countAgainstHistory } from '../loadtests/lib/delivery.js';
import { K6_METRICS, k6RunFile, requestMetric, TX_METRICS } from '../loadtests/lib/k6-summary.js';
import { PROFILE_NAMES, PROFILES } from '../loadtests/lib/profiles.js';
import { Browser, clientId } from '../loadtests/lib/tab.js';
import { readRun, validateRun, writeRunFiles } from '../src/bench/run-file.js';
import { BusbenchError } from '../src/lib/errors.js';
import { adminUrl } from './helpers.js';
import { missingTool } from './tools.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const hasK6 = spawnSync('k6', ['version']).status === 0;

test('every profile has a k6 script whose header documents every option the engine reads', async () => {
  const engine = await readFile(path.join(ROOT, 'loadtests/lib/k6-env.js'), 'utf8');
  const read = new Set([...engine.matchAll(/(?:env|numberEnv)\('([A-Z_]+)'/g)].map((m) => m[1] ?? ''));
  assert.ok(read.size >= 15, `found only ${[...read].join(', ')}`);
  for (const file of await readdir(path.join(ROOT, 'loadtests/lib'))) {
    if (file === 'k6-env.js') continue;
    const text = await readFile(path.join(ROOT, 'loadtests/lib', file), 'utf8');
    assert.doesNotMatch(text, /__ENV/, `${file} reads the environment outside k6-env.js`);
  }
  for (const name of PROFILE_NAMES) {
    const script = await readFile(path.join(ROOT, `loadtests/${name}.js`), 'utf8');
    const header = script.slice(0, script.indexOf('import '));
    for (const option of read) assert.match(header, new RegExp(`\\b${option}\\b`), `${name}.js header lacks ${option}`);
    assert.match(script, new RegExp(`k6Script\\('${name}'\\)`));
    for (const exported of ['options', 'setup', 'browser', 'sampler', 'handleSummary']) {
      assert.match(script, new RegExp(`export const ${exported} = `), `${name}.js does not export ${exported}`);
    }
  }
});

/** A summary shaped like the one k6 passes to handleSummary (trend values in ms). */
function k6Summary(counts: Record<string, number>, trends: Record<string, number>) {
  const metrics: Record<string, { type: string; values: Record<string, number> }> = {};
  for (const [name, count] of Object.entries(counts)) metrics[name] = { type: 'counter', values: { count, rate: 1 } };
  for (const [name, max] of Object.entries(trends)) {
    metrics[name] = {
      type: 'trend',
      values: {
        avg: max / 2,
        min: 1,
        med: max / 2,
        max,
        'p(90)': max * 0.9,
        'p(99)': max * 0.99,
        'p(99.9)': max,
        count: 10,
      },
    };
  }
  metrics.http_req_failed = { type: 'rate', values: { rate: 0.01, passes: 3, fails: 297 } };
  return { metrics, state: { testRunDurationMs: 60_000 } };
}

/** What handleSummary writes for a plausible 60 s run, as JSON (the file k6 writes). */
function k6RunJson(): unknown {
  const M = K6_METRICS;
  const data = k6Summary(
    {
      [M.posts]: 40,
      [M.postsFailed]: 1,
      [M.browsersStarted]: 60,
      [M.browsersOpened]: 60,
      [requestMetric('bus.poll', '200')]: 250,
      [requestMetric('chat.post', '201')]: 40,
      [requestMetric('chat.post', '503')]: 3,
      [requestMetric('session.login', '201')]: 7,
      [M.expected]: 400,
      [M.delivered]: 398,
      [M.lost]: 0,
      [M.pending]: 2,
      [M.connectionsOpened]: 180,
      [TX_METRICS.attempts]: 1100,
      [TX_METRICS.commits]: 1000,
      [TX_METRICS.serialization_failures]: 90,
      [TX_METRICS.retries]: 90,
      [M.dbCommits]: 1200,
    },
    { [M.deliveryLatency]: 40, [M.serverSockets]: 170, [M.dbConnections]: 12, [M.browserConnections]: 6 },
  );
  const profile = PROFILES.tabs;
  assert.ok(profile);
  const setup = {
    t0: Date.parse('2026-11-23T10:00:00Z'),
    runTag: 'k6-x',
    appUrl: 'http://127.0.0.1:8069',
    busUrl: 'http://127.0.0.1:8069',
    pollTimeout: 50,
    server: { topology: 'cluster-fork', presence: 'every-poll', isolation: 'repeatable-read', dispatch: 'per-waiter' },
  };
  return JSON.parse(
    JSON.stringify(
      k6RunFile(data, setup, {
        profile: { ...profile, duration: 40 },
        testid: 't1',
        command: 'k6 run',
        thresholdsFailed: false,
      }),
    ),
  );
}

test("a k6 summary becomes a valid run.json that `busbench report` renders, with k6's limits stated", async () => {
  const run = validateRun(k6RunJson());
  assert.equal(run.engine, 'k6');
  const [c] = run.cases;
  assert.ok(c);
  assert.equal(c.topology, 'cluster-fork');
  assert.equal(c.totals.delivery.expected, 400);
  assert.equal(c.totals.delivery.pending, 2);
  assert.equal(c.totals.delivery.latency_ms.max, 40);
  assert.equal(c.totals.database.peak_connections, 12);
  assert.equal(c.totals.database.app.total.serialization_failures, 90);
  assert.equal(c.totals.derived.failures_per_1000_tx, 90, '90 failed attempts per 1,000 commits');
  assert.ok(c.warnings.some((w) => w.includes('2 of 400 expected deliveries had not arrived')));
  assert.ok(
    c.warnings.some((w) => w.includes('3 of 300 measured requests failed')),
    JSON.stringify(c.warnings),
  );
  assert.deepEqual(c.totals.client.requests, {
    'session.login': { 201: 7 },
    'bus.poll': { 200: 250 },
    'chat.post': { 201: 40, 503: 3 },
  });
  assert.equal(c.totals.derived.requests_per_second, 7.5, 'measured requests over measured seconds (300 / 40)');
  assert.equal(c.totals.client.tabs, 180, 'tabs of the browsers that opened');
  assert.equal(c.totals.delivery.posts_failed, 1);
  assert.ok(c.warnings.some((w) => w.includes('no per-second series')));

  const dir = await mkdtemp(path.join(os.tmpdir(), 'busbench-k6-'));
  await writeRunFiles(dir, run);
  const html = await readFile(path.join(dir, 'report.html'), 'utf8');
  assert.match(html, /cluster-fork/);
  assert.deepEqual((await readRun(dir)).cases[0]?.totals, c.totals);
});

test('a k6 run says when its server figures or its delivery check are incomplete, instead of showing 0 as clean', () => {
  const M = K6_METRICS;
  const profile = PROFILES.tabs;
  assert.ok(profile);
  const data = k6Summary(
    { [M.edgesMissing]: 1, [M.edgesEstimated]: 1, [M.historyFailures]: 2, [M.samplesMissed]: 3 },
    {},
  );
  const setup = {
    t0: 0,
    runTag: 'k6-x',
    appUrl: '',
    busUrl: '',
    pollTimeout: 50,
    server: { topology: 'single-process' },
  };
  const c = k6RunFile(data, setup, { profile, testid: '', command: 'k6 run', thresholdsFailed: false }).cases[0];
  assert.ok(c);
  const said = c.warnings.join('\n');
  assert.match(said, /server transaction figures are missing, not 0/);
  assert.match(said, /1 measure-window edges were not scraped on time: counters interpolated/);
  assert.match(said, /2 channel histories could not be read/);
  assert.match(said, /3 samples of \/metrics failed/);
  assert.equal(c.totals.derived.failures_per_1000_tx, null, 'no commits counted: no rate');
});

test('a k6 run.json missing a field or holding a wrong type is rejected with E_BAD_RUN naming the JSON path', () => {
  type Totals = Record<string, Record<string, unknown>>;
  type LooseRun = Record<string, unknown> & { cases: { totals: Totals }[] };
  const breaches: [string, (run: LooseRun, totals: Totals) => void, string][] = [
    [
      'a missing field',
      (_run, { delivery }) => delete delivery?.pending,
      "/cases/0/totals/delivery must have required property 'pending'",
    ],
    [
      'a string for a number',
      (_run, { database }) => {
        assert.ok(database);
        database.peak_connections = '12';
      },
      '/cases/0/totals/database/peak_connections must be number',
    ],
    [
      'an engine outside the enum',
      (run) => {
        run.engine = 'k7';
      },
      '/engine must be one of ["node","k6"]',
    ],
  ];
  for (const [what, breach, path] of breaches) {
    const run = k6RunJson() as LooseRun;
    const totals = run.cases[0]?.totals;
    assert.ok(totals);
    breach(run, totals);
    assert.throws(
      () => validateRun(run, 'k6-run.json'),
      (err: unknown) =>
        err instanceof BusbenchError &&
        err.code === 'E_BAD_RUN' &&
        err.message.startsWith('k6-run.json does not match busbench/run@1: ') &&
        err.message.includes(path),
      what,
    );
  }
});

test('against the server history, a post is lost only when a poll left well after its row was created', async () => {
  const tag = 'k6-run';
  const b = new Browser({
    id: 1,
    login: 'user1',
    appUrl: 'http://app',
    busUrl: 'http://app',
    tabs: 2,
    tabMode: 'every-tab',
    hidden: [],
    hiddenSlowdown: false,
    hiddenDelay: [4, 1, 20],
    pollTimeout: 50,
    runTag: tag,
    onReceipt: () => {},
    transport: {
      request: async () => ({ status: 0, body: undefined }),
      sleep: async () => {},
      now: () => 0,
      random: () => 0,
    },
  });
  b.channelIds = [1];
  const [seen, late] = b.tabs;
  assert.ok(seen && late);
  for (const tab of b.tabs) tab.startedAt = 1000;
  seen.polledAt = 10_000;
  late.polledAt = 5_500;
  seen.received.set(1, 1);
  const message = (postId: number, due: number, createdAt: number) => ({
    channel_id: 1,
    client_id: clientId(tag, postId, due),
    created_at: new Date(createdAt).toISOString(),
  });
  const count = countAgainstHistory(
    [
      message(1, 2000, 2010), // both tabs owe it: seen has it; late polled 3.5 s after it was created
      message(2, 5000, 5010), // neither has it: seen polled long after (lost); late only 490 ms after (pending)
      message(3, 500, 510), // due before the tabs started: not owed
      { channel_id: 1, client_id: 'another-run:4:2000', created_at: new Date(2010).toISOString() },
    ],
    b,
    tag,
    1000,
  );
  assert.deepEqual(
    { expected: count.expected, delivered: count.delivered, lost: count.lost, pending: count.pending },
    { expected: 4, delivered: 1, lost: 2, pending: 1 },
  );
});

// PATH holds no k6 here whatever the machine has, so this runs everywhere.
test('bench --engine k6 without k6 on PATH says how to install it and writes nothing', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-nok6-'));
  const result = await promisify(execFile)(
    process.execPath,
    [CLI, 'bench', '--engine', 'k6', '--quick', '--out', out],
    {
      env: { ...process.env, PATH: '/nonexistent', DATABASE_URL: adminUrl() },
    },
  ).then(
    () => assert.fail('bench --engine k6 succeeded without k6'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(result.code, 2);
  assert.match(result.stderr, /E_NO_K6: k6 is not on PATH\. Install it/);
  assert.match(result.stderr, /without --engine k6/);
  assert.deepEqual(await readdir(out), []);
});

test('bench --engine k6 runs the k6 script against a layout and reads its run.json', async (t) => {
  if (missingTool(t, hasK6, 'no k6 on PATH: put ../shared/tools/k6 on PATH, as .ci/run does')) return;
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-k6run-'));
  await promisify(execFile)(
    process.execPath,
    [
      CLI,
      'bench',
      '--engine',
      'k6',
      '--quick',
      '--layouts',
      'single-process',
      '--users',
      '6',
      '--tabs',
      '2',
      // k6 cannot cancel a parked poll: the run ends up to one poll timeout after the drain.
      '--poll-timeout',
      '5',
      '--out',
      out,
    ],
    { env: { ...process.env, DATABASE_URL: adminUrl(), CI: 'true' }, maxBuffer: 10 * 1024 * 1024, timeout: 300_000 },
  );
  const [folder] = await readdir(out);
  assert.ok(folder);
  const run = await readRun(path.join(out, folder));
  assert.equal(run.engine, 'k6');
  const d = run.cases[0]?.totals.delivery;
  assert.ok(d && d.expected > 0, 'tabs owed posts');
  assert.equal(d.lost + d.duplicated + d.out_of_order, 0);
  assert.equal(d.delivered + d.pending, d.expected);
  const totals = run.cases[0]?.totals;
  assert.ok(totals);
  assert.equal(totals.client.tabs, 12, 'every browser opened');
  assert.ok(totals.database.peak_connections > 0, 'the sampler read the db-exporter');
  assert.ok(totals.server.peak_parked_polls > 0, 'the sampler read the layout');
  assert.ok(totals.database.app.total.commits > 0, 'transactions counted between the window edges');
  assert.ok((totals.client.requests['bus.poll']?.['200'] ?? 0) > 0, 'measured requests by endpoint and status');
  assert.ok(totals.client.http_connections_peak_per_browser <= 6, 'at most 6 requests per origin in a browser');
  assert.ok(existsSync(path.join(out, folder, 'k6', 'single-process', 'k6-summary.json')), "k6's own summary kept");
});

test('a k6 case whose thresholds break fails the bench with k6 exit code 99, and its run.json says why', async (t) => {
  if (missingTool(t, hasK6, 'no k6 on PATH: put ../shared/tools/k6 on PATH, as .ci/run does')) return;
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-k6fail-'));
  const args = [CLI, 'bench', '--engine', 'k6', '--quick', '--layouts', 'single-process', '--users', '2'];
  const result = await promisify(execFile)(
    process.execPath,
    [...args, '--tabs', '1', '--poll-timeout', '2', '--duration', '2', '--out', out],
    // k6 passes the environment to the script: a failed-request rate below 0 cannot hold.
    { env: { ...process.env, DATABASE_URL: adminUrl(), CI: 'true', MAX_ERROR_RATE: '0' }, timeout: 300_000 },
  ).then(
    () => assert.fail('bench --engine k6 exited 0 although a threshold broke'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(result.code, 99, result.stderr);
  assert.match(result.stderr, /k6 failed for single-process \(exit 99\): thresholds broken/);
  const [folder] = await readdir(out);
  assert.ok(folder, 'the figures are written all the same');
  const c = (await readRun(path.join(out, folder))).cases[0];
  assert.ok(
    c?.warnings.some((w) => /k6 thresholds failed/.test(w)),
    JSON.stringify(c?.warnings),
  );
});
