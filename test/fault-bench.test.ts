// `busbench bench --faults` end to end (issue 13): every fault against every layout for a few
// seconds, on the bench's own embedded PostgreSQL so that pg-restart really stops and starts
// it, and not one acknowledged post lost.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { recoveryMs } from '../src/bench/report-faults.js';
import { readRun } from '../src/bench/run-file.js';
import { TOPOLOGIES } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const FAULTS = ['listen-drop', 'backend-kill', 'worker-kill', 'pg-restart'];

test('every fault in every layout: no acknowledged post lost, processes restarted, recovery measured and reported', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-faults-'));
  const flags = {
    layouts: TOPOLOGIES.join(','),
    faults: FAULTS.join(','),
    'fault-every': 3,
    users: 10,
    tabs: 2,
    rate: 8,
    warmup: 2,
    'poll-timeout': 5,
    'data-dir': path.join(out, 'pg'),
  };
  const args = Object.entries(flags).flatMap(([flag, value]) => [`--${flag}`, String(value)]);
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'bench', '--quick', '--out', out, ...args], {
    // No DATABASE_URL: the bench starts (and restarts) its own embedded server.
    env: { ...process.env, DATABASE_URL: '', CI: 'true' },
    maxBuffer: 10 * 1024 * 1024,
    timeout: 300_000,
  });
  const [folder] = (await readdir(out)).filter((f) => f !== 'pg');
  assert.ok(folder, stdout);
  const dir = path.join(out, folder);
  const run = await readRun(dir);
  assert.deepEqual(
    run.cases.map((c) => c.topology),
    [...TOPOLOGIES],
  );
  for (const c of run.cases) {
    const faults = c.faults ?? [];
    assert.deepEqual(
      faults.map((f) => f.kind),
      FAULTS,
      c.id,
    );
    assert.equal(c.totals.delivery.lost, 0, `${c.id} lost acknowledged posts: ${JSON.stringify(c.totals.delivery)}`);
    assert.equal(c.totals.delivery.duplicated, 0, `${c.id} repeated acknowledged posts`);
    assert.ok(c.totals.delivery.posts > 0, `${c.id} acknowledged some posts`);
    assert.ok(!c.warnings.some((w) => /exited with code/.test(w)), `${c.id}: ${c.warnings.join('; ')}`);
    const byKind = Object.fromEntries(faults.map((f) => [f.kind, f]));
    for (const f of faults) {
      const figures = `${c.id} ${f.kind}: ${JSON.stringify(f)}`;
      assert.equal(f.delivery.lost, 0, figures);
      assert.equal(f.delivery.duplicated, 0, figures);
      // Every applied fault was recovered from within its window: a poll and a post sent after it succeeded.
      if (f.applied) assert.notEqual(recoveryMs(f), null, figures);
    }
    assert.ok(
      faults.reduce((n, f) => n + f.delivery.posts, 0) > 0,
      `${c.id}: posts were acknowledged in the faults' windows`,
    );
    assert.ok(byKind['listen-drop']?.applied, `${c.id}: ${byKind['listen-drop']?.detail}`);
    assert.ok(byKind['backend-kill']?.applied, `${c.id}: ${byKind['backend-kill']?.detail}`);
    assert.ok(byKind['pg-restart']?.applied, `${c.id}: ${byKind['pg-restart']?.detail}`);
    assert.match(byKind['pg-restart']?.detail ?? '', /embedded PostgreSQL stopped/);
    const kill = byKind['worker-kill'];
    assert.equal(kill?.applied, c.topology !== 'single-process', `${c.id}: ${kill?.detail}`);
    if (kill?.applied && kill.restarts !== null)
      assert.ok(kill.restarts >= 1, `${c.id}: the killed process or thread was replaced`);
    // The restart's 503s say what they are.
    const restartErrors = Object.keys(byKind['pg-restart']?.errors ?? {});
    assert.ok(
      restartErrors.every((key) => !/^500/.test(key)),
      `${c.id}: a restart must not answer 500: ${restartErrors.join(', ')}`,
    );
  }
  const html = await readFile(path.join(dir, 'report.html'), 'utf8');
  assert.match(html, /<section id="faults">/);
  assert.match(html, /markLine/);
  assert.match(html, /No layout lost or duplicated an acknowledged post under the faults/);
  assert.match(html, /Recovered fastest from its slowest fault: <b>[^<]+<\/b> \(\d+ ms/);
  assert.match(stdout, /^faults:$/m);
});
