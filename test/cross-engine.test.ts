// Both engines measure the same thing: one short case, run once by the Node runner and once by
// the real k6 against the same layout with the same load, must give the same server-side
// connection peaks within 10 %, make the same posts, and lose nothing.
// The HTTP connection peak used to read ~12 % higher with k6 (node 212-222 / k6 238-244): k6
// handed the posts to its browsers in turn, so 57 of its 60 had opened a 4th connection for a
// post by the end of the window, where the Node runner's random picks reached about 35. Both
// engines now make the same posts from the same browsers (load-plan.js postAuthors): 226 / 226
// and 224 / 227 on 2026-12-02 (seven runs: 0-2 % apart).
// The failed attempts per 1,000 commits are held to 60 % only, not 10 %: in seven runs of this
// test on the shared 2-core machine (load average 10-21) k6 read 19-76 % higher every time,
// beyond the Poisson noise of its 60-210 failed attempts, by a mechanism not yet shown (the
// README gives the figures and what was ruled out). The bound
// catches an engine that misses or double-counts conflicts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import type { CaseResult } from '../src/bench/results.js';
import { benchCase } from './helpers.js';
import { missingTool } from './tools.js';

const hasK6 = spawnSync('k6', ['version']).status === 0;

async function once(engine: 'node' | 'k6'): Promise<CaseResult> {
  const out = await mkdtemp(path.join(os.tmpdir(), `busbench-cross-${engine}-`));
  return benchCase(out, ['--engine', engine, '--layouts', 'single-process', '--warmup', '3', '--duration', '12']);
}

/**
 * The case, run again once if the machine starved its generator: such a case is invalid
 * (E_INVALID_CASE, its posts sent seconds late) and measured nothing to compare. A second
 * invalid case fails the test with its reasons.
 */
async function bench(t: TestContext, engine: 'node' | 'k6'): Promise<CaseResult> {
  try {
    return await once(engine);
  } catch (err) {
    const said = String((err as { stderr?: string }).stderr ?? err);
    if (!/E_INVALID_CASE: .*the generator/.test(said)) throw err;
    t.diagnostic(`${engine}: the generator was starved, running the case again: ${said.split('\n').at(-2) ?? said}`);
    return once(engine);
  }
}

test('the Node runner and k6 give the same server-side figures for the same case, and lose nothing', async (t) => {
  if (missingTool(t, hasK6, 'no k6 on PATH: put ../shared/tools/k6 on PATH, as .ci/run does')) return;
  const node = await bench(t, 'node');
  const k6 = await bench(t, 'k6');
  const within = (what: string, a: number | null, b: number | null, share: number) => {
    assert.ok(a !== null && b !== null && a > 0 && b > 0, `${what}: node ${a}, k6 ${b}`);
    const apart = Math.abs(a - b) / Math.max(a, b);
    t.diagnostic(`${what}: node ${a}, k6 ${b} (${Math.round(apart * 100)} % apart)`);
    assert.ok(apart <= share, `${what} differs by more than ${share * 100} %: node ${a}, k6 ${b}`);
  };
  within('database connections peak', node.totals.database.peak_connections, k6.totals.database.peak_connections, 0.1);
  within('server HTTP connections peak', node.totals.server.peak_open_sockets, k6.totals.server.peak_open_sockets, 0.1);
  const made = (c: CaseResult) => c.totals.delivery.posts + c.totals.delivery.posts_failed;
  assert.equal(made(node), made(k6), 'both engines made the same posts in the window');
  within(
    'failed attempts per 1,000 commits',
    node.totals.derived.failures_per_1000_tx,
    k6.totals.derived.failures_per_1000_tx,
    0.6,
  );
  assert.equal(node.totals.client.tabs, k6.totals.client.tabs, 'the same tabs took part');
  for (const [engine, c] of [
    ['node', node],
    ['k6', k6],
  ] as const) {
    const d = c.totals.delivery;
    assert.ok(d.expected > 0, `${engine}: tabs owed posts`);
    assert.equal(d.lost + d.duplicated + d.out_of_order, 0, `${engine}: ${JSON.stringify(d)}`);
  }
});
