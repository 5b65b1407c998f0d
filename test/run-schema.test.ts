// The run.json contract as JSON Schema: RUN_SCHEMA (results.ts) is what validateRun checks, and
// its JSON text is the schema readers outside TypeScript get, so both must judge a run alike.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { RUN_SCHEMA } from '../src/bench/results.js';
import { validateRun } from '../src/bench/run-file.js';
import { BusbenchError } from '../src/lib/errors.js';
import { sampleRun } from './fixtures.js';

type Loose = Record<string, unknown>;
/** The sample run as plain JSON, to break at will; the first case and its first sample alongside. */
function looseRun() {
  const run = JSON.parse(JSON.stringify(sampleRun())) as Loose & {
    cases: (Loose & { totals: Record<string, Loose>; timeseries: Loose[] })[];
  };
  const first = run.cases[0];
  const sample = first?.timeseries[0];
  assert.ok(first && sample);
  return { run, first, sample };
}

function rejection(data: unknown): string {
  try {
    validateRun(data);
  } catch (err) {
    assert.ok(err instanceof BusbenchError && err.code === 'E_BAD_RUN', String(err));
    return err.message;
  }
  return assert.fail('validateRun accepted the run');
}

test('the JSON text of the run schema compiles under strict ajv and judges runs as validateRun does', () => {
  const standalone = JSON.parse(JSON.stringify(RUN_SCHEMA)) as Loose;
  assert.equal(standalone.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.equal(standalone.title, 'busbench/run@1');
  const check = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true }).compile(standalone);
  assert.equal(check(sampleRun()), true, JSON.stringify(check.errors));
  const { run, sample } = looseRun();
  sample.phase = 'cooldown';
  assert.equal(check(run), false);
  assert.throws(
    () => validateRun(run),
    /\/cases\/0\/timeseries\/0\/phase must be one of \["warmup","measure","drain"\]/,
  );
});

test('busbench schema prints exactly the schema validateRun checks', async () => {
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'schema']);
  assert.deepEqual(JSON.parse(stdout), JSON.parse(JSON.stringify(RUN_SCHEMA)));
});

test('an unknown property is rejected in a case and in every fixed-shape object below it', () => {
  const places: [string, (r: ReturnType<typeof looseRun>) => Loose][] = [
    ['', ({ run }) => run],
    ['/cases/0', ({ first }) => first],
    ['/cases/0/totals/client', ({ first }) => first.totals.client ?? {}],
    ['/cases/0/timeseries/0', ({ sample }) => sample],
  ];
  for (const [path, at] of places) {
    const loose = looseRun();
    at(loose).note = 'x';
    assert.match(rejection(loose.run), new RegExp(`: ${path || '/'} has unknown property "note"`));
  }
});

test('the free-key parts of a run take new keys, and their values are still checked', () => {
  const { run, first, sample } = looseRun();
  Object.assign(run.profile as Loose, { ramp: 'linear' });
  Object.assign(run.sweep as Loose, { isolation: ['serializable'] });
  Object.assign(first.server_config as Loose, { anything: { nested: true } });
  Object.assign(sample.db_connections_by_app as Loose, { 'busbench/new-app': 2 });
  assert.doesNotThrow(() => validateRun(run));
  Object.assign(sample.db_connections_by_app as Loose, { 'line\nbreak': 'two' });
  assert.match(rejection(run), /\/cases\/0\/timeseries\/0\/db_connections_by_app\/line\nbreak must be number/);
});

test('null is accepted only where nothing may have been measured', () => {
  const { run, first, sample } = looseRun();
  sample.delivery_p99_ms = null;
  Object.assign(first.totals.delivery?.latency_ms as Loose, { p99: null });
  assert.doesNotThrow(() => validateRun(run));
  sample.tabs = null;
  assert.match(rejection(run), /\/cases\/0\/timeseries\/0\/tabs must be number/);
});
