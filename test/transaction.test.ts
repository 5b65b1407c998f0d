// The retry helper against a real PostgreSQL: whole-unit retries, conflicts found inside
// wrapping errors, after-commit hooks only after a commit, and pgbench-style counting.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Database } from '../src/app/database.js';
import { Metrics } from '../src/app/metrics.js';
import { backoffMs, findRetryableSqlstate, RetryableConflict, retryWholeRequest } from '../src/app/transaction.js';
import { BusbenchError, HttpError } from '../src/lib/errors.js';
import { loadConfig } from '../src/lib/server-options.js';
import { eventually, freshDatabase, metric, sql } from './helpers.js';

describe('transaction helper', () => {
  let url: string;
  let metrics: Metrics;
  let db: Database;

  before(async () => {
    url = await freshDatabase();
    const setup = new pg.Client({ connectionString: url });
    await setup.connect();
    await setup.query('CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counter VALUES (1, 0)');
    await setup.end();
    metrics = new Metrics('single-process', 'test');
    db = new Database(loadConfig({ databaseUrl: url, maxTries: '3', retryBase: '0.001' }, {}), metrics, 'http', 0);
  });
  after(() => db.close());

  const count = async (name: string, labels: Record<string, string>) =>
    metric(await metrics.registry.metrics(), name, labels);

  test('finds a retryable SQLSTATE through application errors that wrap it (seed 003)', () => {
    const conflict = Object.assign(new Error('could not serialize access'), { code: '40001' });
    const wrapped = new Error('validation failed', { cause: new Error('constraint', { cause: conflict }) });
    assert.equal(findRetryableSqlstate(wrapped), '40001');
    assert.equal(findRetryableSqlstate(Object.assign(new Error('x'), { code: '23505' })), undefined);
    assert.equal(findRetryableSqlstate(Object.assign(new Error('x'), { code: '55P03' })), '55P03');
  });

  /** Starts `run`, ends the backend of its query marked `marker` while it sleeps; the answer and the ended pid. */
  async function cutMidway<T>(marker: string, run: () => Promise<T>): Promise<{ answer: T; cut: number }> {
    const answer = run();
    const cut = await eventually(async () => {
      const rows = await sql<{ pid: number }>(
        url,
        `SELECT pid FROM pg_stat_activity WHERE query LIKE '%${marker}%' AND pid <> pg_backend_pid()`,
      );
      return rows[0]?.pid;
    });
    await sql(url, 'SELECT pg_terminate_backend($1)', [cut]);
    return { answer: await answer, cut };
  }

  test('a one-statement query whose connection the server ended runs once more on a fresh connection', async () => {
    const { answer, cut } = await cutMidway('cut-me-query', () =>
      db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid, pg_sleep(0.5), 'cut-me-query'"),
    );
    assert.ok(answer.rows[0] && answer.rows[0].pid !== cut, 'answered by another backend');
  });

  test('a unit of work cut before its COMMIT runs again and commits once', async () => {
    const labels = { endpoint: 'chat.post' };
    const retriesBefore = await count('busbench_tx_retries_total', labels);
    const cutBefore = await count('busbench_tx_failures_total', { ...labels, sqlstate: '57P01' });
    // Row 2: the other tests count on row 1.
    await sql(url, 'INSERT INTO counter VALUES (2, 0)');
    let runs = 0;
    await cutMidway('cut-me-unit', () =>
      db.transaction('chat.post', async (tx) => {
        runs++;
        await tx.query('UPDATE counter SET n = n + 1 WHERE id = 2');
        if (runs === 1) await tx.query("SELECT pg_sleep(0.5), 'cut-me-unit'");
      }),
    );
    const end = await sql<{ n: number }>(url, 'SELECT n FROM counter WHERE id = 2');
    assert.equal(runs, 2);
    assert.equal(end[0]?.n, 1, 'the cut attempt rolled back with its connection');
    assert.equal((await count('busbench_tx_retries_total', labels)) - retriesBefore, 1);
    assert.equal((await count('busbench_tx_failures_total', { ...labels, sqlstate: '57P01' })) - cutBefore, 1);
  });

  test('backoff is uniform(0, base x 2^n)', () => {
    for (let n = 1; n <= 4; n++) {
      for (let i = 0; i < 50; i++) {
        const ms = backoffMs(n, 0.5);
        assert.ok(ms >= 0 && ms <= 500 * 2 ** n);
      }
    }
  });

  test('a real 40001 retries the whole unit; hooks run once, after the commit', async () => {
    const events: string[] = [];
    let runs = 0;
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    try {
      const value = await db.transaction('unit.retry', async (tx) => {
        runs++;
        events.push(`run ${runs}`);
        await tx.query('SELECT n FROM counter WHERE id = 1'); // takes the snapshot
        if (runs === 1) {
          // Another transaction commits a newer version of the row after our snapshot.
          await blocker.query('UPDATE counter SET n = n + 100 WHERE id = 1');
        }
        tx.afterCommit(async () => {
          events.push('hook');
        });
        const { rows } = await tx.query<{ n: number }>('UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n');
        return rows[0]?.n;
      });
      assert.equal(value, 101);
      assert.deepEqual(events, ['run 1', 'run 2', 'hook']);
    } finally {
      await blocker.end();
    }
    const endpoint = { endpoint: 'unit.retry' };
    assert.equal(await count('busbench_tx_attempts_total', endpoint), 2);
    assert.equal(await count('busbench_tx_failures_total', { ...endpoint, sqlstate: '40001' }), 1);
    assert.equal(await count('busbench_tx_retries_total', endpoint), 1);
    assert.equal(await count('busbench_tx_retried_total', endpoint), 1);
    assert.equal(await count('busbench_tx_commits_total', endpoint), 1);
  });

  test('after max tries the user sees E_TX_CONFLICT, hooks never ran and nothing was written', async () => {
    let hooks = 0;
    const attempt = db.transaction('unit.giveup', async (tx) => {
      await tx.query('UPDATE counter SET n = n + 1000 WHERE id = 1');
      tx.afterCommit(async () => {
        hooks++;
      });
      throw new Error('wrapped by the application', {
        cause: Object.assign(new Error('deadlock detected'), { code: '40P01' }),
      });
    });
    await assert.rejects(attempt, (err: unknown) => err instanceof BusbenchError && err.code === 'E_TX_CONFLICT');
    assert.equal(hooks, 0);
    const { rows } = await db.query<{ n: number }>('SELECT n FROM counter WHERE id = 1');
    assert.equal(rows[0]?.n, 101);
    const endpoint = { endpoint: 'unit.giveup' };
    assert.equal(await count('busbench_tx_attempts_total', endpoint), 3);
    assert.equal(await count('busbench_tx_retries_total', endpoint), 2);
    assert.equal(await count('busbench_tx_retried_total', endpoint), 1, 'one unit, retried twice, then failed');
    assert.equal(await count('busbench_tx_final_failures_total', { ...endpoint, sqlstate: '40P01' }), 1);
  });

  test('concurrent writers of one row: every unit retried at least once counts once as retried', async () => {
    const endpoint = 'unit.contended';
    const rr = new Database(
      loadConfig({ databaseUrl: url, isolation: 'repeatable-read', maxTries: '8', retryBase: '0.001' }, {}),
      metrics,
      'http',
      0,
    );
    const runs: number[] = [];
    try {
      await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          rr.transaction(endpoint, async (tx) => {
            runs[i] = (runs[i] ?? 0) + 1;
            await tx.query('SELECT n FROM counter WHERE id = 1');
            // Every unit holds its snapshot a while, so the others commit a newer row meanwhile.
            await tx.query('SELECT pg_sleep(0.02)');
            await tx.query('UPDATE counter SET n = n + 1 WHERE id = 1');
          }),
        ),
      );
    } finally {
      await rr.close();
    }
    const label = { endpoint };
    const retried = await count('busbench_tx_retried_total', label);
    const retries = await count('busbench_tx_retries_total', label);
    const failed = await count('busbench_tx_failures_total', { ...label, sqlstate: '40001' });
    const figures = `retried ${retried}, retries ${retries}, failed attempts ${failed}, runs ${runs.join(' ')}`;
    assert.equal(retried, runs.filter((n) => n > 1).length, figures);
    assert.ok(retried > 0, figures);
    assert.ok(retried <= retries && retries <= failed, figures);
    assert.equal(
      retries,
      runs.reduce((a, n) => a + n - 1, 0),
      figures,
    );
  });

  test('attempt() tries once and reports a conflict instead of throwing (Odoo 12+)', async () => {
    const result = await db.attempt('unit.once', async () => {
      throw Object.assign(new Error('could not serialize'), { code: '40001' });
    });
    assert.deepEqual(result, { committed: false, sqlstate: '40001' });
    assert.equal(await count('busbench_tx_retries_total', { endpoint: 'unit.once' }), 0);
    assert.equal(await count('busbench_tx_retried_total', { endpoint: 'unit.once' }), 0);
  });

  test('a non-retryable error is thrown as is, after one attempt', async () => {
    await assert.rejects(
      db.transaction('unit.bad', (tx) => tx.query('INSERT INTO counter VALUES (1, 0)')),
      (err: unknown) => (err as { code?: string }).code === '23505',
    );
    assert.equal(await count('busbench_tx_attempts_total', { endpoint: 'unit.bad' }), 1);
    assert.equal(await count('busbench_tx_failures_total', { endpoint: 'unit.bad', sqlstate: '23505' }), 1);
  });

  test('a pool with no free connection fails fast with E_POOL_EXHAUSTED', async () => {
    const small = new Database(
      loadConfig({ databaseUrl: url, poolSize: '1', poolTimeout: '0.2' }, {}),
      new Metrics('single-process', 'test'),
      'http',
      1,
    );
    const held = await small.connect();
    try {
      await assert.rejects(
        small.query('SELECT 1'),
        (err: unknown) => err instanceof HttpError && err.code === 'E_POOL_EXHAUSTED' && err.status === 503,
      );
    } finally {
      held.release();
      await small.close();
    }
  });
});

test("Odoo 8.0's whole-request retry re-runs the request on a raised conflict, and counts retries and the final failure", async () => {
  const metrics = new Metrics('single-process', 'test');
  const config = { maxTries: 3, retryBase: 0.001 };
  let runs = 0;
  const value = await retryWholeRequest(config, metrics, async () => {
    runs++;
    if (runs < 3) throw new RetryableConflict('presence.poll', '40001');
    return 'answered';
  });
  assert.equal(value, 'answered');
  assert.equal(runs, 3, 'two conflicts, then the third run answers');
  const count = async (name: string, labels: Record<string, string>) =>
    metric(await metrics.registry.metrics(), name, labels);
  assert.equal(await count('busbench_tx_retries_total', { endpoint: 'presence.poll' }), 2);
  assert.equal(
    await count('busbench_tx_retried_total', { endpoint: 'presence.poll' }),
    1,
    'one request, retried twice',
  );
  await assert.rejects(
    retryWholeRequest(config, metrics, async () => {
      throw new RetryableConflict('presence.poll', '40001');
    }),
    (err: unknown) => err instanceof HttpError && err.status === 409,
  );
  assert.equal(await count('busbench_tx_final_failures_total', { endpoint: 'presence.poll', sqlstate: '40001' }), 1);
  assert.equal(
    await count('busbench_tx_retried_total', { endpoint: 'presence.poll' }),
    2,
    'the failed request was retried too',
  );
  await assert.rejects(
    retryWholeRequest(config, metrics, async () => {
      throw new Error('not a conflict');
    }),
    /not a conflict/,
  );
});
