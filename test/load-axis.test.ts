// Load as an axis: `--users`/`--tabs` lists sweep the load like presence and isolation, the
// report draws each figure against it, and `--find-max` steps it up until an expression breaks.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LineSeriesOption } from 'echarts';
import { loadCharts } from '../src/bench/charts.js';
import { indistinguishablePairs, repeatedFigures } from '../src/bench/compare.js';
import { findMaxSchedule, runFindMax } from '../src/bench/find-max.js';
import { BENCH_OPTIONS } from '../src/bench/options.js';
import { Progress } from '../src/bench/progress.js';
import { groupRepeats, loadLineId } from '../src/bench/repeats.js';
import { renderReport } from '../src/bench/report.js';
import type { CaseResult, RunFile } from '../src/bench/results.js';
import { readRun } from '../src/bench/run-file.js';
import { caseConfig, caseProfile, casesOf, resolveProfile } from '../src/bench/sweep.js';
import { ERROR_CODES } from '../src/lib/errors.js';
import { loadOptions } from '../src/lib/options.js';
import { loadConfig } from '../src/lib/server-options.js';
import { renderInChromium, skipWithoutChromium } from './chromium.js';
import { sampleRun } from './fixtures.js';
import { adminUrl } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** A few seconds per case: every phase happens, and the machine stays free for the other tests. */
const SHORT = ['--layouts', 'single-process', '--rate', '4', '--warmup', '2', '--duration', '3', '--poll-timeout', '5'];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  out: string;
}

async function bench(args: string[]): Promise<Ran> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-load-'));
  return promisify(execFile)(process.execPath, [CLI, 'bench', '--out', out, ...args], {
    env: { ...process.env, DATABASE_URL: adminUrl(), CI: 'true' },
    maxBuffer: 10 * 1024 * 1024,
    timeout: 240_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr, out }),
    (err: { code?: unknown; stdout: string; stderr: string }) => {
      if (typeof err.code !== 'number') throw err;
      return { code: err.code, stdout: err.stdout, stderr: err.stderr, out };
    },
  );
}

async function runOf(ran: Ran): Promise<{ run: RunFile; dir: string }> {
  const [folder] = await readdir(ran.out);
  assert.ok(folder, `no results folder:\n${ran.stderr}`);
  const dir = path.join(ran.out, folder);
  return { run: await readRun(dir), dir };
}

const points = (series: LineSeriesOption) => series.data as [number, number | null][];

test('a list of users and of tabs sweeps every load, named in the case ids, with each case at its own load', () => {
  const options = loadOptions(BENCH_OPTIONS, { layouts: 'cluster-fork', profileUsers: '20,40', tabs: '1,3' }, {});
  const profile = resolveProfile(options);
  const server = loadConfig({}, {});
  const cases = casesOf(options, profile, server);
  assert.deepEqual(
    cases.map((c) => c.id),
    [
      'cluster-fork users=20 tabs=1',
      'cluster-fork users=20 tabs=3',
      'cluster-fork users=40 tabs=1',
      'cluster-fork users=40 tabs=3',
    ],
  );
  const last = cases[3];
  assert.ok(last);
  assert.equal(caseConfig(server, profile, last).users, 40, 'the layout seeds the users the case logs in');
  assert.equal(caseProfile(profile, last).tabsPerBrowser, 3);
  assert.equal(loadLineId(last.id), 'cluster-fork');
  const one = casesOf(loadOptions(BENCH_OPTIONS, { layouts: 'cluster-fork', profileUsers: '20' }, {}), profile, server);
  assert.deepEqual(
    one.map((c) => c.id),
    ['cluster-fork'],
    'one load is not named',
  );
});

test('repeats at different loads stay apart, and share one line across loads', () => {
  const options = loadOptions(BENCH_OPTIONS, { layouts: 'single-process', profileUsers: '5,10', repeat: '2' }, {});
  const ids = casesOf(options, resolveProfile(options), loadConfig({}, {})).map((c) => c.id);
  assert.deepEqual(ids, [
    'single-process users=5 #1',
    'single-process users=5 #2',
    'single-process users=10 #1',
    'single-process users=10 #2',
  ]);
  const groups = groupRepeats(ids.map((id) => ({ id }) as CaseResult));
  assert.deepEqual(
    groups.map((g) => [g.id, g.cases.length]),
    [
      ['single-process users=5', 2],
      ['single-process users=10', 2],
    ],
  );
  assert.deepEqual([...new Set(ids.map(loadLineId))], ['single-process']);
});

test('repeats are only called indistinguishable at the same load', () => {
  const base = sampleRun();
  const [single] = base.cases;
  assert.ok(single);
  const copy = (id: string): CaseResult => ({ ...single, id, validity: { valid: true, reasons: [] } });
  const run: RunFile = {
    ...base,
    cases: ['single-process users=10', 'single-process users=20', 'cluster-fork users=10'].flatMap((id) => [
      copy(`${id} #1`),
      copy(`${id} #2`),
    ]),
  };
  const cpu = repeatedFigures(run).find((f) => f.figure.label === 'CPU %');
  assert.ok(cpu);
  assert.deepEqual(indistinguishablePairs(cpu), [['single-process users=10', 'cluster-fork users=10']]);
});

test('find-max doubles the users from the start, within its steps and its users bound', () => {
  assert.deepEqual(
    findMaxSchedule({ users: 10, tabsPerBrowser: 3 }, 5, 1000).map((l) => l.users),
    [10, 20, 40, 80, 160],
  );
  assert.deepEqual(
    findMaxSchedule({ users: 10, tabsPerBrowser: 3 }, 5, 50).map((l) => l.users),
    [10, 20, 40],
  );
  assert.deepEqual(findMaxSchedule({ users: 10, tabsPerBrowser: 3 }, 5, 9), []);
  assert.ok(findMaxSchedule({ users: 1, tabsPerBrowser: 2 }, 3, 1000).every((l) => l.tabsPerBrowser === 2));
});

test('find-max stops each layout at its first bad step: an invalid run, a broken expression or a failed case', async () => {
  const options = loadOptions(
    BENCH_OPTIONS,
    { layouts: 'single-process,cluster-fork,worker-threads', profileUsers: '2', findMax: 'lost==0', repeat: '2' },
    {},
  );
  const profile = resolveProfile(options);
  const server = loadConfig({}, {});
  const [template] = sampleRun().cases;
  assert.ok(template);
  const asked: string[][] = [];
  const { findMax, results, failed } = await runFindMax({
    expressions: options.findMax ?? [],
    schedule: findMaxSchedule({ users: 2, tabsPerBrowser: 3 }, 4, 1000),
    casesAt: (load) => casesOf(options, profile, server, [load]),
    measure: async (cases) => {
      asked.push(cases.map((c) => c.id));
      const out = { results: [] as CaseResult[], failed: [] as string[] };
      for (const c of cases) {
        // single-process: one invalid repeat at 4 users; cluster-fork loses a message at 8; worker-threads fails at 8.
        if (c.id === 'worker-threads users=8 #1') {
          out.failed.push(`${c.id}: the layout did not start`);
          continue;
        }
        const valid = c.id !== 'single-process users=4 #2';
        const lost = c.id.startsWith('cluster-fork users=8') ? 3 : 0;
        out.results.push({
          ...template,
          id: c.id,
          topology: c.topology,
          validity: { valid, reasons: valid ? [] : ['no post was sent'] },
          totals: { ...template.totals, delivery: { ...template.totals.delivery, lost } },
        });
      }
      return out;
    },
    profile,
    progress: new Progress(),
  });
  assert.deepEqual(
    findMax.lines.map((l) => [l.id, l.held?.users ?? null, l.broke_at?.users ?? null]),
    [
      ['single-process', 2, 4],
      ['cluster-fork', 4, 8],
      ['worker-threads', 4, 8],
    ],
  );
  const [single, cluster, threads] = findMax.lines;
  assert.match(single?.reason ?? '', /^single-process users=4 #2 invalid: no post was sent$/);
  assert.match(cluster?.reason ?? '', /^lost==0 broke in cluster-fork users=8 #1 \(3\)$/);
  assert.match(threads?.reason ?? '', /^failed to run: worker-threads users=8 #1: the layout did not start$/);
  assert.deepEqual(
    findMax.schedule.map((l) => l.users),
    [2, 4, 8],
    'the fourth load is not tried: every layout broke',
  );
  assert.equal(asked.length, 3);
  assert.ok(
    asked[2]?.every((id) => !id.startsWith('single-process')),
    'a layout that broke runs no more steps',
  );
  assert.equal(results.length + failed.length, asked.flat().length, 'every case run is returned');
});

test('the load charts draw one line per layout against tabs, an invalid case as a gap, never 0', () => {
  const base = sampleRun();
  const [single, cluster] = base.cases;
  assert.ok(single && cluster);
  const at = (c: CaseResult, users: number, valid: boolean): CaseResult => ({
    ...c,
    id: `${c.topology} users=${users}`,
    load: { users, browsers_per_user: 1, tabs_per_browser: 2, tabs: users * 2 },
    validity: { valid, reasons: valid ? [] : ['no post was sent'] },
  });
  const run: RunFile = {
    ...base,
    cases: [at(single, 10, true), at(single, 20, true), at(cluster, 10, true), at(cluster, 20, false)],
  };
  const charts = loadCharts(run);
  assert.ok(charts.length >= 5, `${charts.length} load charts`);
  assert.ok(charts.every((c) => c.section === 'load'));
  const db = charts.find((c) => c.name === 'load-db-conns-peak');
  assert.ok(db, charts.map((c) => c.name).join(', '));
  const series = db.option.series as LineSeriesOption[];
  assert.deepEqual(
    series.map((s) => s.name),
    ['single-process', 'cluster-fork'],
  );
  const [singleLine, clusterLine] = series.map(points);
  assert.deepEqual(
    singleLine?.map(([x]) => x),
    [20, 40],
    'x is the tabs offered',
  );
  assert.ok(singleLine?.every(([, y]) => typeof y === 'number'));
  assert.equal(clusterLine?.[1]?.[1], null, 'the invalid case is a gap');
  assert.equal(clusterLine?.[0]?.[1], cluster.totals.database.peak_connections);
  assert.deepEqual(loadCharts(base), [], 'a run at one load has no load chart');
});

test('a bad --users or --tabs list is a usage error before anything runs', async () => {
  for (const [args, says] of [
    [['--users', '0,x'], /E_CONFIG: --users must be one integer >= 1 .*"0" and "x" are not/],
    [['--tabs', '2,,3'], /E_CONFIG: --tabs must be one integer >= 1 .*"" is not/],
    [['--users', '20,40', '--find-max', 'lost==0'], /E_CONFIG: --find-max steps the load itself/],
    [['--find-max', 'tabs_open<3'], /E_CONFIG: --find-max names no metric "tabs_open"/],
    [['--browser', '--users', '2,3'], /E_CONFIG: --users and --tabs take one value with --browser/],
  ] as const) {
    const ran = await bench([...args]);
    assert.equal(ran.code, ERROR_CODES.E_CONFIG.exitCode, `${args.join(' ')}: ${ran.stderr}`);
    assert.match(ran.stderr, says);
    assert.deepEqual(await readdir(ran.out), [], 'no run folder');
  }
});

test('a run over two loads writes a case per load, named by it, and the report draws the load charts', async (t) => {
  const ran = await bench([...SHORT, '--users', '2,4', '--tabs', '1']);
  assert.equal(ran.code, 0, ran.stderr);
  const { run, dir } = await runOf(ran);
  assert.deepEqual(
    run.cases.map((c) => c.id),
    ['single-process users=2', 'single-process users=4'],
  );
  assert.deepEqual(
    run.cases.map((c) => [c.load?.tabs, c.totals.client.tabs, c.server_config.users]),
    [
      [2, 2, 2],
      [4, 4, 4],
    ],
  );
  assert.deepEqual(run.sweep.users, ['2', '4']);
  assert.ok(
    run.cases.every((c) => c.validity?.valid),
    JSON.stringify(run.cases.map((c) => c.validity)),
  );
  const html = await readFile(path.join(dir, 'report.html'), 'utf8');
  assert.match(html, /<h2>How it grows<\/h2>/);
  assert.match(html, /id="chart-load-db-conns-peak"/);
  const svgs = await readdir(path.join(dir, 'charts'));
  assert.ok(svgs.includes('load-delivery-p99-ms.svg'), svgs.join(', '));
  assert.match(ran.stdout, /single-process users=4/);
  if (skipWithoutChromium(t)) return;
  const rendered = await renderInChromium(path.join(dir, 'report.html'));
  assert.deepEqual([...rendered.pageErrors, ...rendered.consoleErrors], []);
  assert.equal(rendered.chartCount, renderReport(run).svgs.length, 'every chart drew, the load charts included');
});

test('find-max stops at the load that breaks its expression and reports the largest load held', async () => {
  // Five polling tabs per browser hold five of its six connections, so one browser (users=1)
  // cannot pass 6 and two (users=2) hold at least 10: the expression breaks at the second step.
  const ran = await bench([
    ...SHORT,
    '--users',
    '1',
    '--tabs',
    '5',
    '--tab-mode',
    'every-tab',
    '--connections',
    '6',
    '--find-max',
    'http_connections_peak<=6',
    '--find-max-steps',
    '3',
  ]);
  assert.equal(ran.code, 0, `find-max ends well when a step breaks:\n${ran.stderr}`);
  const { run, dir } = await runOf(ran);
  assert.deepEqual(
    run.cases.map((c) => c.id),
    ['single-process users=1', 'single-process users=2'],
    'the third step is not run',
  );
  const f = run.find_max;
  assert.ok(f);
  assert.deepEqual(f.expressions, ['http_connections_peak<=6']);
  assert.deepEqual(
    f.schedule.map((l) => l.users),
    [1, 2],
  );
  const [line] = f.lines;
  assert.equal(f.lines.length, 1);
  assert.equal(line?.id, 'single-process');
  assert.deepEqual(line?.held, { users: 1, browsers_per_user: 1, tabs_per_browser: 5, tabs: 5 });
  assert.equal(line?.broke_at?.users, 2);
  assert.match(line?.reason ?? '', /http_connections_peak<=6 broke in single-process users=2 \(\d+\)/);
  assert.match(ran.stdout, /find-max http_connections_peak<=6/);
  assert.match(ran.stdout, /single-process\s+users=1 \(5 tabs\)\s+users=2 \(10 tabs\)/);
  const html = await readFile(path.join(dir, 'report.html'), 'utf8');
  assert.match(html, /Largest load held/);
  assert.match(html, /<b>single-process<\/b> users=1 \(5 tabs\), broke at 10 tabs/);
  assert.match(html, /<h2>How it grows<\/h2>/);
});
