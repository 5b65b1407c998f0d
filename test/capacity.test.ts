// `busbench capacity` small: the real command on the test server, its figures read from the
// JSON line it prints last. Behaviour only (everything reached, the connection budget held,
// the broadcast delivered exactly once, one fetch per wake-up under shared dispatch, the
// sockets spread over loopback source addresses, a count cut to the open-file limit); the
// timings are the benchmark's, not the test's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BROADCAST_P99_GOAL_MS, broadcastLimit, type CapacityRun } from '../src/bench/capacity.js';
import { adminUrl } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

async function capacity(args: string[], openFiles?: number): Promise<CapacityRun> {
  const command = [CLI, 'capacity', '--ramp', '2', ...args];
  // Lowering the soft limit needs no privilege; the layout the command spawns inherits it.
  const [file, argv] =
    openFiles === undefined
      ? [process.execPath, command]
      : ['/bin/sh', ['-c', `ulimit -n ${openFiles} && exec "$0" "$@"`, process.execPath, ...command]];
  const { stdout } = await promisify(execFile)(file, argv, {
    env: { ...process.env, DATABASE_URL: adminUrl() },
    maxBuffer: 10 * 1024 * 1024,
    timeout: 400_000,
  });
  const line = /^busbench capacity (.*)$/m.exec(stdout);
  assert.ok(line?.[1], `capacity printed no JSON line:\n${stdout}`);
  return JSON.parse(line[1]) as CapacityRun;
}

test('capacity parks every long poll and subscribes every websocket within pool + LISTEN, and a broadcast reaches each tab once, with one fetch per wake-up under shared dispatch', async () => {
  const run = await capacity(['--tabs', '300']);
  assert.deepEqual(run.failed, []);
  assert.deepEqual(
    run.cases.map((c) => `${c.transport} ${c.dispatch}`),
    ['longpoll per-waiter', 'longpoll shared', 'websocket per-waiter', 'websocket shared'],
  );
  for (const c of run.cases) {
    const name = `${c.transport} ${c.dispatch}`;
    assert.equal(c.tabs, 300, name);
    assert.equal(c.reached, 300, `${name}: every tab parked or subscribed`);
    assert.equal(c.limited_by, null, name);
    assert.ok(c.db_connections_peak <= c.db_connections_allowed, `${name}: ${c.db_connections_peak} DB connections`);
    assert.equal(c.db_connections_allowed, 11, `${name}: pool 10 + LISTEN`);
    // 300 browsers fit one address's ports: no spreading when none is needed.
    assert.deepEqual(Object.keys(c.server_connections_by_source), ['127.0.0.1'], name);
    const b = c.broadcast;
    assert.equal(b.expected, 300, name);
    assert.equal(b.delivered, 300, `${name}: every tab got the broadcast`);
    assert.equal(b.duplicated, 0, `${name}: and only once`);
    assert.equal(b.lost, 0, name);
    assert.equal(b.latency_ms.count, 300, name);
    if (c.dispatch === 'shared') {
      assert.equal(b.fetch_queries_per_wakeup, 1, `${name}: one query for all the woken`);
      assert.notEqual(b.server_fanout_ms, null, `${name}: the shared fan-out is timed`);
    } else {
      assert.equal(b.fetch_queries_per_wakeup, 300, `${name}: one query per woken waiter`);
      assert.equal(b.server_fanout_ms, null, `${name}: no shared fan-out to time`);
    }
  }
});

test('past its per-address port budget the runner connects from further loopback addresses, and the server sees them', async () => {
  const run = await capacity(['--tabs', '300', '--ports-per-address', '100', '--dispatch', 'shared']);
  assert.deepEqual(run.failed, []);
  for (const c of run.cases) {
    const sources = Object.entries(c.server_connections_by_source);
    // A websocket browser is budgeted 2 ports (its socket and its login connection): 50 per address.
    const expected = c.transport === 'websocket' ? 6 : 3;
    assert.equal(sources.length, expected, `${c.transport}: ${JSON.stringify(c.server_connections_by_source)}`);
    assert.ok(
      sources.every(([address]) => address.startsWith('127.0.0.')),
      JSON.stringify(c.server_connections_by_source),
    );
    assert.equal(c.reached, 300, c.transport);
    assert.equal(c.broadcast.delivered, 300, c.transport);
  }
});

test('a tab count past the open-file limit is cut to what fits, and the figures name the limit', async () => {
  const run = await capacity(
    ['--tabs', '1000', '--transport', 'longpoll', '--dispatch', 'shared', '--concurrency', '50'],
    600,
  );
  assert.deepEqual(run.failed, []);
  assert.equal(run.limits.open_files?.soft, 600);
  const [c] = run.cases;
  assert.ok(c);
  assert.equal(c.tabs_asked, 1000);
  assert.ok(c.tabs < 600, `cut to ${c.tabs}`);
  assert.equal(c.reached, c.tabs, 'what fits is all reached');
  assert.match(c.limited_by ?? '', /open files: RLIMIT_NOFILE 600/);
  assert.equal(c.broadcast.delivered, c.tabs);
});

test('a broadcast past its p99 goal names the limit its own figures show: the runner thread, the machine CPU, or the per-waiter herd', () => {
  const figures = {
    expected: 10_000,
    delivered: 10_000,
    duplicated: 0,
    lost: 0,
    latency_ms: { count: 10_000, mean: 700, p50: 692, p90: 1200, p99: 1360, p999: 1368, max: 1370 },
    first_ms: 185,
    server_fanout_ms: 1230,
    server_fanout_cpu_ms: 464,
    server_cpu_ms: 600,
    runner_cpu_ms: 1050,
    runner_loop_delay_max_ms: 40,
    fetch_queries_per_wakeup: 1,
    pool_exhausted_answers: 0,
    window_ms: 1100,
    machine_cpu_busy_percent: 97,
  };
  const both = broadcastLimit(figures, 'longpoll', 2, 10) ?? '';
  assert.match(both, /^the runner: its process used 1050 ms of CPU over the 1100 ms window \(95 %\)/);
  assert.match(both, /CPU: the machine's 2 cores were 97 % busy over the 1100 ms window .*everything else 484 ms/);
  assert.doesNotMatch(both, /per-waiter/);
  const quiet = broadcastLimit({ ...figures, runner_cpu_ms: 400, machine_cpu_busy_percent: 50 }, 'longpoll', 2, 10);
  assert.match(quiet ?? '', /^no limit found in the figures/);
  const herd = broadcastLimit(
    { ...figures, fetch_queries_per_wakeup: 10_000, pool_exhausted_answers: 22_896, delivered: 3749 },
    'longpoll',
    2,
    10,
  );
  assert.match(
    herd ?? '',
    /^6251 tabs had not got it .*; per-waiter dispatch: 10000 fetch queries .*22896 polls answered 503/,
  );
  const met = { ...figures, latency_ms: { ...figures.latency_ms, p99: BROADCAST_P99_GOAL_MS } };
  assert.equal(broadcastLimit(met, 'websocket', 2, 10), null, 'p99 at the goal meets it');
});
