// pgbench's "number of transactions retried" as the kit counts it: units of work retried at
// least once, whether they then committed or failed, carried from the app's counter through
// the sampler into run.json and the comparison table, on a real case that conflicts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatComparison } from '../src/bench/compare.js';
import { readRun } from '../src/bench/run-file.js';
import { failedAttempts } from '../src/bench/validity.js';
import { adminUrl } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('a conflicting case counts retried transactions, no more than its retries and failed attempts', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-retried-'));
  // Every poll rewrites its user's presence row at repeatable-read: the tabs of a user conflict.
  const args = [
    ...['bench', '--layouts', 'single-process', '--profile', 'presence-storm', '--users', '3', '--browsers', '2'],
    ...['--tabs', '3', '--presence', 'every-poll', '--isolation', 'repeatable-read', '--rate', '2'],
    ...['--warmup', '2', '--duration', '8', '--out', out],
  ];
  const finished = await promisify(execFile)(process.execPath, [CLI, ...args], {
    env: { ...process.env, DATABASE_URL: adminUrl(), CI: 'true' },
    maxBuffer: 10 * 1024 * 1024,
    timeout: 300_000,
  }).catch((err: { code?: number; stderr?: string }) => {
    // A machine busy enough to make the generator late marks the case invalid (exit 3); its
    // counters are still what the server counted, which is all this test reads.
    assert.equal(err.code, 3, err.stderr);
    return undefined;
  });
  assert.ok(finished === undefined || finished.stdout.includes('retried tx'), 'the comparison has the column');
  const [folder] = await readdir(out);
  assert.ok(folder);
  const run = await readRun(path.join(out, folder));
  const [c] = run.cases;
  assert.ok(c);
  const tx = c.totals.database.app.total;
  const figures = `retried ${tx.retried}, retries ${tx.retries}, failed attempts ${failedAttempts(c.totals)}`;
  assert.ok(tx.retried !== undefined && tx.retried > 0, figures);
  assert.ok(tx.retried <= tx.retries, figures);
  assert.ok(tx.retries <= failedAttempts(c.totals), figures);
  // A retried unit ends as a commit or a final failure.
  assert.ok(tx.retried <= tx.commits + tx.final_failures, figures);
  for (const [endpoint, e] of Object.entries(c.totals.database.app.by_endpoint)) {
    assert.ok(e.retried !== undefined && e.retried <= e.retries, `${endpoint}: ${JSON.stringify(e)}`);
  }
  const perSecond = c.timeseries.reduce((n, s) => n + (s.retried ?? 0), 0);
  assert.ok(perSecond >= tx.retried, `the series counts every second, the window's ${tx.retried} among them`);
  if (c.validity?.valid !== false) {
    const [header = '', row = ''] = formatComparison(run).split('\n');
    const column = header.split(/ {2,}/).indexOf('retried tx');
    assert.ok(column > 0, header);
    assert.equal(row.split(/ {2,}/)[column], String(tx.retried));
  }
});
