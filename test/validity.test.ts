// A case is checked before it is compared: one that did no work or whose generator was
// saturated is invalid, has no rates, is named and left out, and fails the bench. Plus the
// cross-check of the kit's failed attempts against PostgreSQL's own rollback counter.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatComparison } from '../src/bench/compare.js';
import { renderReport } from '../src/bench/report.js';
import type { CaseResult, GeneratorFigures, RunFile } from '../src/bench/results.js';
import { readRun, validateRun } from '../src/bench/run-file.js';
import { assessCase, failedAttempts, markValidity, stabilityWarnings, validOnly } from '../src/bench/validity.js';
import { ERROR_CODES } from '../src/lib/errors.js';
import { sampleRun } from './fixtures.js';
import { adminUrl } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function cases(run: RunFile): [CaseResult, CaseResult] {
  const [a, b] = run.cases;
  assert.ok(a && b);
  return [a, b];
}

/** The case as if it had run and done nothing: no posts, no deliveries, no commits. */
function plantZeroWork(c: CaseResult): void {
  Object.assign(c.totals.delivery, { posts: 0, expected: 0, delivered: 0, lost: 0, pending: 0 });
  const app = c.totals.database.app;
  for (const tx of [app.total, ...Object.values(app.by_endpoint)]) {
    Object.assign(tx, { attempts: 0, commits: 0, serialization_failures: 0, retries: 0, final_failures: 0 });
  }
}

const NODE_GENERATOR: GeneratorFigures = {
  process: 'node runner (this bench process)',
  window: 'measure',
  cores: 1,
  cpu_percent: 30,
  event_loop_lag_p99_ms: 12,
  event_loop_lag_max_ms: 20,
};

test('a planted zero-work case is invalid with its reasons, has no rates, and is named and left out', () => {
  const run = sampleRun();
  const [served, idle] = cases(run);
  plantZeroWork(idle);
  const marked = markValidity(idle, 120);
  assert.equal(marked.validity?.valid, false);
  assert.deepEqual(marked.validity?.reasons, ['no post was sent', 'no transaction committed in the measured window']);
  for (const [key, value] of Object.entries(marked.totals.derived)) assert.equal(value, null, `${key} is n/a`);
  run.cases = [markValidity(served, 120), marked];
  assert.equal(validateRun(run), run, 'validity is part of the schema');
  assert.deepEqual(
    validOnly(run).cases.map((c) => c.id),
    [served.id],
  );
  const table = formatComparison(run);
  assert.ok(!table.split('\n').some((line) => line.startsWith(`${idle.id} `)), 'no row for the invalid case');
  assert.match(table, /invalid, left out: cluster-fork \(no post was sent; no transaction committed/);
  const { html } = renderReport(run);
  assert.match(html, /Invalid, left out of the comparison<\/b> \(rates n\/a\): cluster-fork \(no post was sent/);
  assert.doesNotMatch(html, /Most: cluster-fork/, 'the invalid case is no extreme');
});

test('tabs that never got in and posts nobody received make a case invalid', () => {
  const [, c] = cases(sampleRun());
  c.totals.client.tabs = 18;
  assert.deepEqual(assessCase(c, 180).reasons, ['only 18 of 180 tabs got in']);
  c.totals.delivery.delivered = 0;
  assert.deepEqual(assessCase(c, 180).reasons, [
    'only 18 of 180 tabs got in',
    'none of 4000 expected deliveries arrived',
  ]);
  assert.equal(assessCase(c, null).reasons.length, 1, 'without the expected count, only the deliveries are judged');
  Object.assign(c.totals.delivery, { posts: 0, posts_failed: 182, expected: 0 });
  assert.deepEqual(assessCase(c, null).reasons, ['none of 182 posts succeeded']);
});

test('a saturated or lagging generator, or one that fell behind its schedule, makes a case invalid', () => {
  const [c] = cases(sampleRun());
  assert.deepEqual(assessCase({ ...c, generator: NODE_GENERATOR }, 120), { valid: true, reasons: [] });
  const busy = assessCase({ ...c, generator: { ...NODE_GENERATOR, cpu_percent: 93 } }, 120);
  assert.equal(busy.valid, false);
  assert.match(busy.reasons[0] ?? '', /generator was saturated: .* at 93 % CPU \(limit 80 % of one core\)/);
  const lagging = assessCase({ ...c, generator: { ...NODE_GENERATOR, event_loop_lag_p99_ms: 400 } }, 120);
  assert.match(lagging.reasons[0] ?? '', /event loop lagged: p99 400 ms \(limit 250 ms\)/);
  const k6: GeneratorFigures = { ...NODE_GENERATOR, process: 'k6', window: 'run', cores: 2, cpu_percent: 150 };
  assert.equal(assessCase({ ...c, generator: k6 }, 120).valid, true, 'k6 may use every core: 150 of 200 %');
  assert.equal(assessCase({ ...c, generator: { ...k6, cpu_percent: 170 } }, 120).valid, false);
  c.totals.client.behind_schedule.late_posts = 12;
  assert.equal(assessCase(c, 120).valid, true, '12 of 50 late is within 25 %: a warning, not invalid');
  c.totals.client.behind_schedule.late_posts = 13;
  assert.match(assessCase(c, 120).reasons[0] ?? '', /fell behind: 13 of 50 posts sent late \(over 25 %\)/);
  c.totals.client.behind_schedule = { late_posts: 1, max_lag_ms: 1500 };
  assert.match(assessCase(c, 120).reasons[0] ?? '', /stalled: a post was sent 1500 ms late \(limit 1000 ms\)/);
});

test('a saturated generator in a run.json is invalid when the report reads it, though no validity was written', () => {
  const run = sampleRun();
  const [, hot] = cases(run);
  hot.generator = { ...NODE_GENERATOR, cpu_percent: 99 };
  assert.equal(validateRun(run), run);
  assert.match(formatComparison(run), /invalid, left out: cluster-fork \(the generator was saturated/);
});

test('a rate resting on few commits or few failed attempts carries a warning', () => {
  const [c] = cases(sampleRun());
  const failed = failedAttempts(c.totals);
  assert.equal(failed, 10);
  const warnings = stabilityWarnings(c.totals);
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0] ?? '', /only 850 commits in the window \(under 1,000\)/);
  assert.match(warnings[1] ?? '', /rests on 10 failed attempts \(under 50\): it varies by about \+-32 %/);
  c.totals.database.app.total.commits = 10_000;
  c.totals.database.app.total.serialization_failures = 400;
  assert.deepEqual(stabilityWarnings(c.totals), []);
});

/**
 * `busbench bench` with these flags into a fresh folder; resolves whatever the exit code.
 * `embedded`: the bench starts its own PostgreSQL, as `npm run bench` does, instead of the tests' server.
 */
async function bench(flags: Record<string, string | number>, embedded = false) {
  const args = Object.entries(flags).flatMap(([flag, value]) => [`--${flag}`, String(value)]);
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-validity-'));
  const database = embedded ? ['--data-dir', await mkdtemp(path.join(os.tmpdir(), 'busbench-validity-pg-'))] : [];
  const { DATABASE_URL: _, ...inherited } = process.env;
  const result = await promisify(execFile)(process.execPath, [CLI, 'bench', '--out', out, ...database, ...args], {
    env: { ...inherited, ...(embedded ? {} : { DATABASE_URL: adminUrl() }), CI: 'true' },
    maxBuffer: 10 * 1024 * 1024,
    timeout: 240_000,
  }).then(
    (r) => ({ ...r, code: 0 }),
    (err: { code?: unknown; stdout?: string; stderr?: string }) => {
      if (typeof err.code !== 'number') throw err;
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: err.code };
    },
  );
  const [folder] = await readdir(out);
  assert.ok(folder, `no results folder in ${out}:\n${result.stderr}`);
  return { ...result, run: await readRun(path.join(out, folder)) };
}

// On the bench's own embedded PostgreSQL: its exit hook once turned every exit code into 0.
test('a real case with no posts is invalid, and busbench bench exits with E_INVALID_CASE', async () => {
  const { run, code, stdout, stderr } = await bench(
    {
      layouts: 'single-process',
      users: 2,
      tabs: 2,
      rate: 0,
      warmup: 1,
      duration: 2,
      'poll-timeout': 5,
    },
    true,
  );
  assert.equal(code, ERROR_CODES.E_INVALID_CASE.exitCode, stderr);
  const [c] = run.cases;
  assert.ok(c);
  assert.equal(c.validity?.valid, false);
  assert.ok(c.validity?.reasons.includes('no post was sent'), JSON.stringify(c.validity));
  assert.equal(c.totals.derived.failures_per_1000_tx, null);
  assert.equal(c.generator?.process, 'node runner (this bench process)');
  assert.ok((c.generator?.cpu_percent ?? -1) >= 0, 'the runner measured its own CPU');
  assert.match(stdout, /invalid, left out: single-process \(no post was sent/);
  assert.match(stderr, /E_INVALID_CASE/);
});

test("the kit's failed attempts match pg_stat_database's rollbacks of the same case, and a broken threshold exits 99", async () => {
  const { run, code, stderr } = await bench({
    layouts: 'single-process',
    profile: 'presence-storm',
    users: 3,
    browsers: 2,
    tabs: 3,
    presence: 'every-poll',
    isolation: 'repeatable-read',
    rate: 2,
    warmup: 2,
    // Long enough that the edges' two seconds are a few % of the window.
    duration: 30,
    // Always broken: a case has no negative commits.
    threshold: 'lost==0,commits<0',
  });
  const [c] = run.cases;
  assert.ok(c?.validity, stderr);
  if (c.validity.valid) {
    assert.equal(code, ERROR_CODES.E_THRESHOLDS.exitCode, stderr);
    assert.match(stderr, /E_THRESHOLDS: a threshold was broken: commits<0 in single-process/);
    assert.deepEqual(
      run.thresholds?.map((t) => [t.expression, t.ok]),
      [
        ['lost==0', true],
        ['commits<0', false],
      ],
    );
  } else {
    // A machine busy enough to make the generator late makes the case invalid, which takes
    // precedence: its figures are not judged against any limit.
    assert.equal(code, ERROR_CODES.E_INVALID_CASE.exitCode, stderr);
    assert.deepEqual(run.thresholds, [], JSON.stringify(c.validity));
  }
  // Every failed attempt (retried or not) is one ROLLBACK; the app rolls back nothing else
  // here, so the two counters differ only by what each read caught at the window's edges. A busy
  // backend publishes its counts at most once a second (PostgreSQL's PGSTAT_MIN_INTERVAL), so
  // each edge's read can miss up to a second of rollbacks, and conflicts come in bursts: the
  // bound is two seconds at the mean rate (one second's worth failed at 330 vs 299 in a 12 s
  // window on a loaded machine).
  const failed = failedAttempts(c.totals);
  const rollbacks = c.totals.database.rollbacks;
  assert.ok(failed >= 20, `too few conflicts to compare: ${failed}`);
  const bound = (2 * failed) / c.measured_seconds;
  assert.ok(
    Math.abs(rollbacks - failed) <= Math.max(3, bound),
    `kit ${failed} failed attempts vs pg_stat_database ${rollbacks} rollbacks (bound ${bound.toFixed(1)})`,
  );
});
