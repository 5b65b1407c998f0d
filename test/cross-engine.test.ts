// Both engines measure the same thing: one short case, run once by the Node runner and once by
// the real k6 against the same layout with the same load, must give the same server-side
// connection peaks within 10 %, make the same posts, and lose nothing.
// The HTTP connection peak used to read ~12 % higher with k6 (node 212-222 / k6 238-244): k6
// handed the posts to its browsers in turn, so 57 of its 60 had opened a 4th connection for a
// post by the end of the window, where the Node runner's random picks reached about 35. Both
// engines now make the same posts from the same browsers (load-plan.js postAuthors): 226 / 226
// and 224 / 227 on 2026-12-02 (seven runs: 0-2 % apart).
// The failed attempts per 1,000 commits are held to 60 %, not 10 %. The rate follows the pace
// at which the machine turns the polls round, whichever engine drives them: on 2026-12-02 (the
// 2-core machine shared with other jobs, load average 4-23) the cases of both engines fell in
// one band of rate against delivery p50, from 99-148 at 80-540 ms to 56-84 at 1.1-2.1 s.
// One case runs after the other and the machine's speed changed between them, so 16 pairs were
// 0-73 % apart; in 14 the engine that read higher ran faster, and the 8 pairs within 2x of
// each other's delivery p50 were 0-19 % apart. A pair further apart than that compares the
// machine, not the engines: it is run once more and the closer pair is compared. k6 tends to
// run faster (its tabs re-poll 0.7-2 ms after an answer at p10, the one-threaded runner's
// 5-15 ms), and part of the gap is not the pace (the README gives the figures). The bound
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

/** How far apart two cases ran: the ratio of their delivery p50 (1 when equal; infinite when one has none). */
function paceRatio(a: CaseResult, b: CaseResult): number {
  const pa = a.totals.delivery.latency_ms.p50;
  const pb = b.totals.delivery.latency_ms.p50;
  if (pa === null || pb === null || !(pa > 0 && pb > 0)) return Number.POSITIVE_INFINITY;
  return Math.max(pa, pb) / Math.min(pa, pb);
}

test('the Node runner and k6 give the same server-side figures for the same case, and lose nothing', async (t) => {
  if (missingTool(t, hasK6, 'no k6 on PATH: put ../shared/tools/k6 on PATH, as .ci/run does')) return;
  let node = await bench(t, 'node');
  let k6 = await bench(t, 'k6');
  if (paceRatio(node, k6) > 2) {
    // The conflict rate is a function of the pace; a pair run at different paces is run again.
    t.diagnostic(
      `delivery p50 node ${node.totals.delivery.latency_ms.p50} ms, k6 ${k6.totals.delivery.latency_ms.p50} ms: the machine's speed changed between the cases, running the pair again`,
    );
    const k6Again = await bench(t, 'k6');
    const nodeAgain = await bench(t, 'node');
    if (paceRatio(nodeAgain, k6Again) < paceRatio(node, k6)) [node, k6] = [nodeAgain, k6Again];
  }
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
  t.diagnostic(
    `delivery p50 (the pace the rate follows): node ${node.totals.delivery.latency_ms.p50} ms, k6 ${k6.totals.delivery.latency_ms.p50} ms`,
  );
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
