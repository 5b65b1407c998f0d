// When every pooled connection is busy, a request waits --pool-timeout and then gets a
// 503 it can act on; the process stays up and recovers as soon as connections free up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { eventually, login, poll, request, sql, startLayout } from './helpers.js';

test('an exhausted pool answers 503 E_POOL_EXHAUSTED with Retry-After, then recovers', async () => {
  const layout = await startLayout('single-process', ['--pool-size', '1', '--pool-timeout', '0.3']);
  const locker = new pg.Client({ connectionString: layout.databaseUrl });
  await locker.connect();
  try {
    const token = await login(layout, 'user1');
    // The poll's presence write blocks on this lock while holding the pool's only connection.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE presence IN ACCESS EXCLUSIVE MODE');
    const stuck = poll(layout, token, ['channel:1'], 0, 0);
    await eventually(async () => {
      const rows = await sql(
        layout.databaseUrl,
        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'busbench/single-process/http/0' AND wait_event_type = 'Lock'",
      );
      return rows.length > 0 ? true : undefined;
    });
    const refused = await request('GET', `${layout.url}/channels`, { token });
    assert.equal(refused.status, 503, refused.text);
    assert.equal((refused.body.error as { code: string }).code, 'E_POOL_EXHAUSTED');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    await locker.query('COMMIT');
    assert.equal((await stuck).status, 200);
    assert.equal((await request('GET', `${layout.url}/channels`, { token })).status, 200);
  } finally {
    await locker.end();
    assert.equal(await layout.stop(), 0, layout.log());
  }
});
