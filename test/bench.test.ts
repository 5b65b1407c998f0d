// `busbench bench` end to end: the real CLI, real layouts, real PostgreSQL, for a few seconds.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CaseResult, RunFile } from '../src/bench/results.js';
import { readRun } from '../src/bench/run-file.js';
import { ERROR_CODES } from '../src/lib/errors.js';
import { freePort } from '../src/lib/net.js';
import { renderInChromium, skipWithoutChromium } from './chromium.js';
import { adminUrl, TOPOLOGIES } from './helpers.js';

/** Primary and 2 workers; dedicated-longpoll adds its bus process. */
const OS_PROCESSES: Record<string, number> = {
  'single-process': 1,
  'worker-threads': 1,
  'cluster-fork': 3,
  'dedicated-longpoll': 4,
};

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** A few seconds of load: small enough for CI, long enough for every phase to happen. */
const SHORT = { warmup: 1, duration: 3, 'poll-timeout': 5 };

/**
 * `busbench bench` with these flags (`{ users: 6 }` is `--users 6`), into a fresh results folder.
 * `exitCode`: the one expected (a case with no posts is invalid and exits E_INVALID_CASE's).
 */
async function bench(
  flags: Record<string, string | number>,
  exitCode = 0,
): Promise<{ run: RunFile; dir: string; stdout: string; stderr: string }> {
  const args = Object.entries(flags).flatMap(([flag, value]) => [`--${flag}`, String(value)]);
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-results-'));
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'bench', '--out', out, ...args], {
    env: { ...process.env, DATABASE_URL: adminUrl(), CI: 'true' },
    maxBuffer: 10 * 1024 * 1024,
    timeout: 240_000,
  }).then(
    (done) => {
      assert.equal(0, exitCode, 'busbench bench exited 0');
      return done;
    },
    (err: { code?: unknown; stdout: string; stderr: string }) => {
      if (err.code !== exitCode) throw err;
      return err;
    },
  );
  const [folder] = await readdir(out);
  assert.ok(folder, `no results folder in ${out}:\n${stderr}`);
  const dir = path.join(out, folder);
  return { run: await readRun(dir), dir, stdout, stderr };
}

function only(run: RunFile, id: string): CaseResult {
  const found = run.cases.find((c) => c.id === id);
  assert.ok(found, `no case ${id} in ${run.cases.map((c) => c.id).join(', ')}`);
  return found;
}

test('a short run of every layout delivers every message once, in order, and writes a valid run', async () => {
  const { run, dir, stdout } = await bench({
    layouts: TOPOLOGIES.join(','),
    users: 6,
    tabs: 2,
    rate: 8,
    ...SHORT,
    // Logins on a busy machine can eat a 1 s warm-up; a post due before its browser opened is not sent.
    warmup: 2,
    duration: 4,
  });
  assert.deepEqual(
    run.cases.map((c) => c.topology),
    [...TOPOLOGIES],
  );
  for (const c of run.cases) {
    const d = c.totals.delivery;
    assert.ok(d.posts >= 10, `${c.id}: only ${d.posts} posts`);
    assert.ok(d.expected > d.posts, `${c.id}: each post has several subscribed tabs`);
    assert.equal(d.lost, 0, `${c.id}: lost`);
    assert.equal(d.pending, 0, `${c.id}: pending`);
    assert.equal(d.duplicated, 0, `${c.id}: duplicated`);
    assert.equal(d.out_of_order, 0, `${c.id}: out of order`);
    assert.equal(d.delivered, d.expected, c.id);
    assert.ok(c.timeseries.filter((s) => s.phase === 'measure').length >= 2, `${c.id}: a sample each second`);
    assert.ok(c.totals.database.peak_connections > 0, `${c.id}: database connections seen`);
    assert.equal(c.totals.client.tabs, 12);
    assert.ok(c.totals.server.peak_parked_polls > 0, `${c.id}: parked polls seen`);
    // Threads share their process's RSS, so only OS processes report one.
    const withRss = c.totals.server.processes.filter((p) => p.peak_rss_bytes > 0).map((p) => p.process);
    assert.ok(withRss.length >= (OS_PROCESSES[c.topology] ?? 1), `${c.id}: RSS of ${withRss.join(', ')}`);
  }
  // Every forked worker holds its own LISTEN connection; pools grow lazily, so count those.
  const listening = (id: string) =>
    only(run, id).totals.database.connections_by_app.filter((a) => a.application_name.includes('/listen/')).length;
  assert.equal(listening('single-process'), 1);
  assert.equal(listening('cluster-fork'), 2);
  const files = await readdir(dir);
  for (const f of ['run.json', 'timeseries.csv', 'report.html']) assert.ok(files.includes(f), f);
  const charts = await readdir(path.join(dir, 'charts'));
  assert.ok(charts.filter((f) => f.endsWith('.svg')).length >= 6, `charts as SVG: ${charts.join(', ')}`);
  const csv = (await readFile(path.join(dir, 'timeseries.csv'), 'utf8')).trim().split('\n');
  assert.equal(
    csv.length - 1,
    run.cases.reduce((n, c) => n + c.timeseries.length, 0),
  );
  for (const t of TOPOLOGIES) assert.match(stdout, new RegExp(t), 'the comparison table names every layout');
});

test('every-poll presence at repeatable-read conflicts and retries; upsert conflicts less', async () => {
  const { run } = await bench({
    layouts: 'single-process',
    profile: 'presence-storm',
    users: 3,
    browsers: 2,
    tabs: 3,
    presence: 'every-poll,upsert',
    isolation: 'repeatable-read',
    rate: 1,
    warmup: 1,
    duration: 4,
  });
  const everyPoll = only(run, 'single-process presence=every-poll').totals.database.app.by_endpoint['presence.poll'];
  const upsert = only(run, 'single-process presence=upsert').totals.database.app.by_endpoint['presence.poll'];
  assert.ok(everyPoll && everyPoll.serialization_failures > 0, `every-poll: ${JSON.stringify(everyPoll)}`);
  assert.ok(everyPoll.retries > 0);
  assert.ok(
    (upsert?.serialization_failures ?? 0) < everyPoll.serialization_failures,
    `upsert ${JSON.stringify(upsert)} vs every-poll ${JSON.stringify(everyPoll)}`,
  );
});

test("a browser's 7th long-polling tab waits for one of its 6 connections", async () => {
  const { run } = await bench(
    {
      layouts: 'single-process',
      users: 1,
      tabs: 7,
      connections: 6,
      rate: 0,
      warmup: 1,
      duration: 2,
      'poll-timeout': 30,
    },
    ERROR_CODES.E_INVALID_CASE.exitCode,
  );
  const t = run.cases[0]?.totals;
  assert.ok(t);
  assert.equal(t.client.http_connections_peak_per_browser, 6);
  // Six polls reach the server (five for a moment if a presence write just gave up).
  assert.ok(
    t.server.peak_parked_polls >= 5 && t.server.peak_parked_polls <= 6,
    `parked: ${t.server.peak_parked_polls}`,
  );
  assert.ok(t.client.queued_requests_peak >= 1, 'the seventh waits in the browser');
});

test('many tabs behind 6 connections still post, commit and deliver, and the bench reports the queueing', async () => {
  const { run, stdout, stderr } = await bench({
    layouts: 'single-process',
    profile: 'many-tabs',
    users: 2,
    tabs: 10,
    rate: 3,
    warmup: 1,
    duration: 4,
    'poll-timeout': 1,
  });
  const t = run.cases[0]?.totals;
  assert.ok(t);
  assert.ok(t.delivery.posts > 0 && t.delivery.delivered > 0, JSON.stringify(t.delivery));
  assert.ok((t.database.app.total.commits ?? 0) > 0);
  assert.ok(t.client.queued_ms && (t.client.queued_ms.p99 ?? 0) > 1, `queued: ${JSON.stringify(t.client.queued_ms)}`);
  assert.ok(t.client.post_queued_ms && t.client.post_queued_ms.count > 0, 'posts waited for a connection too');
  assert.match(stdout + stderr, /queued for a connection: p50 \d+ \/ p99 \d+ ms/);
});

test('in leader mode one tab per browser polls, and every tab still gets every message', async () => {
  const { run } = await bench({
    layouts: 'single-process',
    users: 2,
    browsers: 2,
    tabs: 5,
    'tab-mode': 'leader',
    rate: 4,
    ...SHORT,
  });
  const t = run.cases[0]?.totals;
  assert.ok(t);
  assert.equal(t.client.tabs, 20);
  assert.ok(t.server.peak_parked_polls <= 4, `one poll per browser, not per tab: ${t.server.peak_parked_polls}`);
  assert.equal(t.delivery.lost + t.delivery.pending + t.delivery.duplicated, 0);
  assert.ok(t.delivery.delivered > 0);
});

test('report.html of a real run renders in Chromium without errors', async (t) => {
  if (skipWithoutChromium(t)) return;
  const { dir } = await bench({ layouts: 'single-process,dedicated-longpoll', users: 3, ...SHORT });
  const rendered = await renderInChromium(path.join(dir, 'report.html'));
  assert.deepEqual(rendered.consoleErrors, []);
  assert.deepEqual(rendered.pageErrors, []);
  assert.ok(rendered.chartCount > 4, `charts rendered: ${rendered.chartCount}`);
});

test('hidden tabs poll slowly, and still get every message once the drain reveals them', async () => {
  const { run } = await bench({
    layouts: 'single-process',
    profile: 'hidden-tabs',
    users: 4,
    tabs: 2,
    windows: 1,
    rate: 4,
    ...SHORT,
  });
  const t = run.cases[0]?.totals;
  assert.ok(t);
  assert.equal(t.delivery.lost + t.delivery.pending + t.delivery.duplicated + t.delivery.out_of_order, 0);
  assert.ok(t.delivery.delivered > 0);
});

test("--metrics-port serves the runner's live figures under k6's metric names while it runs", async () => {
  const port = await freePort();
  const running = bench({ layouts: 'single-process', users: 4, tabs: 2, rate: 4, 'metrics-port': port, ...SHORT });
  let text = '';
  // The endpoint exists only while a case runs; ask until every browser is in and polls came back.
  const settled = (t: string) => /k6_vus\{[^}]*\} 4\n/.test(t) && /endpoint="bus\.poll",status="200"/.test(t);
  for (let i = 0; i < 100 && !settled(text); i++) {
    await sleep(200);
    text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
  }
  await running;
  assert.match(text, /k6_vus\{testid="[^"]+-single-process",topology="single-process",profile="tabs"\} 4/);
  assert.match(text, /k6_http_reqs_total\{endpoint="bus\.poll",status="200"/);
  assert.match(text, /k6_busbench_lost_messages_total\{/);
  assert.match(text, /k6_busbench_polls_total\{result="(empty|data)"/);
});
