// `--threshold`: k6-style expressions parsed as flags are read (a typo is a usage error before
// any case runs) and evaluated on every valid case.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BENCH_OPTIONS } from '../src/bench/options.js';
import {
  brokenThresholds,
  evaluateThresholds,
  parseThreshold,
  parseThresholds,
  THRESHOLD_METRICS,
} from '../src/bench/thresholds.js';
import { BusbenchError, ERROR_CODES } from '../src/lib/errors.js';
import { loadOptions } from '../src/lib/options.js';
import { sampleRun } from './fixtures.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('an expression is a metric, one of six operators and a number', () => {
  assert.deepEqual(parseThreshold('delivery_p99_ms<1000'), {
    expression: 'delivery_p99_ms<1000',
    metric: 'delivery_p99_ms',
    operator: '<',
    limit: 1000,
  });
  assert.equal(parseThreshold(' lost == 0 ').expression, 'lost==0');
  assert.equal(parseThreshold('final_failures_per_1k<=0.5').limit, 0.5);
  for (const op of ['<', '<=', '>', '>=', '==', '!=']) assert.equal(parseThreshold(`lost${op}1`).operator, op);
  assert.deepEqual(
    parseThresholds('lost==0, failures_per_1k<10', '--threshold').map((t) => t.metric),
    ['lost', 'failures_per_1k'],
  );
});

test('an unknown metric or a malformed expression is a usage error that lists what is allowed', () => {
  const usage = (raw: string, pattern: RegExp) =>
    assert.throws(
      () => parseThresholds(raw, '--threshold'),
      (err: unknown) => err instanceof BusbenchError && err.code === 'E_CONFIG' && pattern.test(err.message),
    );
  usage('latency<3', /names no metric "latency"; the metrics are failures_per_1k, final_failures_per_1k, /);
  usage('lost=0', /"lost=0" is not <metric><operator><number>/);
  usage('lost<abc', /is not <metric><operator><number>/);
  usage('lost==0,nope>1', /names no metric "nope"/);
  assert.equal(ERROR_CODES.E_CONFIG.exitCode, 2);
});

test('the flag parses when the options are read, from the environment too', () => {
  const options = loadOptions(BENCH_OPTIONS, {}, { BUSBENCH_THRESHOLDS: 'lost==0,delivery_p99_ms<1000' });
  assert.deepEqual(
    options.thresholds?.map((t) => t.expression),
    ['lost==0', 'delivery_p99_ms<1000'],
  );
  assert.equal(loadOptions(BENCH_OPTIONS, {}, {}).thresholds, null);
});

test('every metric reads a number (or null) from a case', () => {
  const [c] = sampleRun().cases;
  assert.ok(c);
  for (const [name, metric] of Object.entries(THRESHOLD_METRICS)) {
    const value = metric.value(c);
    assert.ok(value === null || Number.isFinite(value), `${name}: ${value}`);
  }
});

test('thresholds are evaluated on each case, and the broken ones are named with their value', () => {
  const run = sampleRun();
  const results = evaluateThresholds(
    parseThresholds('lost==0,delivery_p99_ms<1000,failures_per_1k<20', 't'),
    run.cases,
  );
  assert.deepEqual(
    results.map((r) => [r.case, r.expression, r.ok]),
    [
      ['single-process', 'lost==0', true],
      ['single-process', 'delivery_p99_ms<1000', true],
      ['single-process', 'failures_per_1k<20', true],
      ['cluster-fork', 'lost==0', false],
      ['cluster-fork', 'delivery_p99_ms<1000', true],
      ['cluster-fork', 'failures_per_1k<20', false],
    ],
  );
  assert.deepEqual(brokenThresholds(results), [
    'lost==0 in cluster-fork (2)',
    `failures_per_1k<20 in cluster-fork (${run.cases[1]?.totals.derived.failures_per_1000_tx})`,
  ]);
  const [single] = run.cases;
  assert.ok(single);
  single.totals.derived.failures_per_1000_tx = null;
  const [none] = evaluateThresholds([parseThreshold('failures_per_1k<1')], [single]);
  assert.deepEqual(none, { expression: 'failures_per_1k<1', case: 'single-process', value: null, ok: true });
});

test('busbench bench rejects an unknown threshold metric, even in an earlier repeat of the flag, before running anything', async () => {
  const args = [CLI, 'bench', '--threshold', 'speed>1', '--threshold', 'lost==0'];
  const failed = await promisify(execFile)(process.execPath, args, {
    env: { ...process.env, CI: 'true' },
    timeout: 120_000,
  }).then(
    () => undefined,
    (err: { code?: number; stderr?: string }) => err,
  );
  assert.ok(failed, 'the bench must not run');
  assert.equal(failed.code, ERROR_CODES.E_CONFIG.exitCode);
  assert.match(failed.stderr ?? '', /E_CONFIG: --threshold names no metric "speed"; the metrics are /);
});

test("k6's broken-threshold exit code and busbench's are one definition: 99", async () => {
  const { K6_THRESHOLDS_FAILED } = await import('../src/bench/k6-engine.js');
  assert.equal(K6_THRESHOLDS_FAILED, 99);
  assert.equal(ERROR_CODES.E_THRESHOLDS.exitCode, K6_THRESHOLDS_FAILED);
});

test("the README's metric table lists exactly the metrics a threshold may name", async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('**Thresholds**'), readme.indexOf('**Repeats**'));
  const listed = [...section.matchAll(/^\| ([^|]+) \|/gm)]
    .flatMap((m) => [...(m[1] ?? '').matchAll(/`([a-z0-9_]+)`/g)].map((n) => n[1]))
    .sort();
  assert.deepEqual(listed, Object.keys(THRESHOLD_METRICS).sort());
});
