// Distributed k6 runs: N k6 processes, each one execution segment of the same test, merged
// into one case. The merge's arithmetic on made-up parts, then the real thing: a 2-instance
// run of the real k6 against a layout totals what a 1-instance run of the same load does.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { segmentSequence } from '../src/bench/k6-engine.js';
import { MERGED_PERCENTILES_WARNING, mergePercentiles } from '../src/bench/k6-merge.js';
import type { CaseResult } from '../src/bench/results.js';
import { benchCase } from './helpers.js';
import { missingTool } from './tools.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const hasK6 = spawnSync('k6', ['version']).status === 0;

test("execution segments cover the test once: k6's sequence for N equal instances", () => {
  assert.deepEqual(segmentSequence(1), ['0', '1']);
  assert.deepEqual(segmentSequence(3), ['0', '1/3', '2/3', '1']);
});

test('merged latencies: count, mean and max exact, each percentile the worst instance’s', () => {
  const a = { count: 100, mean: 10, p50: 8, p90: 20, p99: 40, p999: 50, max: 60 };
  const b = { count: 300, mean: 30, p50: 25, p90: 35, p99: 38, p999: 70, max: 90 };
  const none = { count: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null };
  assert.deepEqual(mergePercentiles([a, b, none]), {
    count: 400,
    mean: 25,
    p50: 25,
    p90: 35,
    p99: 40,
    p999: 70,
    max: 90,
  });
  assert.deepEqual(mergePercentiles([none, none]), none, 'nothing recorded stays null, not 0');
});

const total = (c: CaseResult) =>
  Object.values(c.totals.client.requests).reduce(
    (n, byStatus) => n + Object.values(byStatus).reduce((a, b) => a + b, 0),
    0,
  );

function k6Bench(out: string, instances: number): Promise<CaseResult> {
  return benchCase(out, [
    '--engine',
    'k6',
    '--quick',
    // Every post goes to "general": each owes every tab, so expected deliveries do not depend on chance.
    '--profile',
    'chat-storm',
    '--layouts',
    'single-process',
    '--users',
    '12',
    '--tabs',
    '2',
    '--rate',
    '6',
    '--poll-timeout',
    '5',
    '--k6-instances',
    String(instances),
  ]);
}

test('a 2-instance k6 run merges into one valid case whose totals match a 1-instance run within 10 %', async (t) => {
  if (missingTool(t, hasK6, 'no k6 on PATH: put ../shared/tools/k6 on PATH, as .ci/run does')) return;
  const one = await k6Bench(await mkdtemp(path.join(os.tmpdir(), 'busbench-k6one-')), 1);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'busbench-k6two-'));
  const two = await k6Bench(dir, 2);
  const [folder] = await readdir(dir);
  assert.deepEqual(
    (await readdir(path.join(dir, folder ?? '', 'k6', 'single-process'))).sort(),
    ['1', '2'],
    'each instance wrote its own run.json',
  );
  assert.ok(
    two.warnings.some((w) => w.startsWith(MERGED_PERCENTILES_WARNING)),
    JSON.stringify(two.warnings),
  );
  // The same browsers and posts, split without overlap: exact, whatever the machine.
  assert.equal(two.totals.client.browsers, one.totals.client.browsers);
  assert.equal(two.totals.client.tabs, one.totals.client.tabs);
  const within = (what: string, a: number, b: number) =>
    assert.ok(Math.abs(a - b) <= 0.1 * Math.max(a, b), `${what}: 2 instances ${a}, 1 instance ${b}`);
  within('posts', two.totals.delivery.posts, one.totals.delivery.posts);
  within('expected deliveries', two.totals.delivery.expected, one.totals.delivery.expected);
  within('measured requests', total(two), total(one));
  within('server sockets peak', two.totals.server.peak_open_sockets, one.totals.server.peak_open_sockets);
  within('database connections peak', two.totals.database.peak_connections, one.totals.database.peak_connections);
  for (const c of [one, two]) {
    const d = c.totals.delivery;
    assert.equal(d.lost + d.duplicated + d.out_of_order, 0, JSON.stringify(d));
    assert.ok(d.expected > d.posts, 'several tabs owed each post');
  }
});

test('the k6-operator TestRun runs the bundled script on N pods with only settings the scripts read', async () => {
  const manifest = parse(await readFile(path.join(ROOT, 'deploy/k6-operator-testrun.yaml'), 'utf8'));
  assert.equal(manifest.kind, 'TestRun');
  assert.ok(manifest.spec.parallelism >= 2);
  assert.equal(manifest.spec.script.configMap.file, 'tabs.js');
  assert.match(manifest.spec.arguments, /--compatibility-mode=base/);
  const env = await readFile(path.join(ROOT, 'loadtests/lib/k6-env.js'), 'utf8');
  for (const { name } of manifest.spec.runner.env as { name: string }[]) {
    if (name.startsWith('K6_')) continue;
    assert.match(env, new RegExp(`'${name}'`), `${name} is not read by loadtests/lib/k6-env.js`);
  }
});

test('docker-compose accepts the distributed variant: one k6 service per execution segment', async (t) => {
  const found = spawnSync('docker-compose', ['version']).status === 0;
  if (missingTool(t, found, 'docker-compose not installed: apt-get install docker-compose (CI installs it)')) return;
  const { stdout } = await promisify(execFile)(
    'docker-compose',
    ['-f', 'docker-compose.yml', '-f', 'deploy/k6-distributed.compose.yml', '--profile', 'k6-distributed', 'config'],
    { cwd: ROOT, env: { PATH: process.env.PATH, HOME: os.tmpdir() } },
  );
  const services = parse(stdout).services as Record<string, { environment: Record<string, string> }>;
  const segments = ['k6-1', 'k6-2'].map((name) => services[name]?.environment.SEGMENT);
  assert.deepEqual(segments, ['0:1/2', '1/2:1']);
  assert.equal(services['k6-1']?.environment.SEQUENCE, segmentSequence(2).join(','));
  assert.equal(services['k6-1']?.environment.RUN_TAG, services['k6-2']?.environment.RUN_TAG, 'one tag on all posts');
});
