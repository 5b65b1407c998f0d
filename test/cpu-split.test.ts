// --generator-cpu: the generator keeps to one CPU, the server's processes to the others.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import { test } from 'node:test';
import { cpuSplit, pinTree } from '../src/bench/cpu-split.js';

/** The CPUs a process may run on, from taskset's hexadecimal mask. */
function allowed(pid: number): number[] {
  const mask = Number.parseInt(
    execFileSync('taskset', ['-p', String(pid)])
      .toString()
      .trim()
      .split(': ')[1] ?? '',
    16,
  );
  return Array.from({ length: os.availableParallelism() }, (_, i) => i).filter((i) => (mask >> i) & 1);
}

test('a CPU this machine does not have is refused with E_CONFIG before anything starts', () => {
  assert.throws(() => cpuSplit(os.availableParallelism()), {
    code: 'E_CONFIG',
    message: /--generator-cpu must be below/,
  });
});

test('the server gets every CPU but the generator, and a pinned process and its children keep to them', async (t) => {
  const split = cpuSplit(0);
  assert.deepEqual(
    split.server,
    allowed(process.pid).filter((cpu) => cpu !== 0),
  );
  // A shell with a child of its own, as a cluster primary has its workers.
  const parent = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
  t.after(() => {
    execFileSync('pkill', ['-P', String(parent.pid)]);
    parent.kill();
  });
  await new Promise((done) => setTimeout(done, 200));
  const child = Number(
    execFileSync('pgrep', ['-P', String(parent.pid)])
      .toString()
      .trim(),
  );
  pinTree(parent.pid as number, split.server);
  assert.deepEqual(allowed(parent.pid as number), split.server);
  assert.deepEqual(allowed(child), split.server);
});
