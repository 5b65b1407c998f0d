// `--generator-cpu N`: the load generator on CPU N, the layout and PostgreSQL on the others.
// On a machine of few cores the generator and the server share CPUs, so a generator that costs
// more CPU slows the server it measures, and the conflict rate follows the server's pace: on
// the 2-core machine k6 (two cores of Go) ran the same case slower than the one-threaded runner
// and read 7-14 % fewer failed attempts per 1,000 commits; split, the two engines read 2 %
// apart on average (README, "Both engines measure the same windows"). It is the one-machine
// stand-in for k6's advice to run the generator on a machine of its own. Linux only: affinity
// is set with util-linux's taskset, which Node has no API for; children inherit it, so the
// bench's own k6 runs on the generator's CPU and each process is pinned once.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { errors } from '../lib/errors.js';

export interface CpuSplit {
  generator: number;
  /** Every other CPU: the layout's processes and PostgreSQL's. */
  server: number[];
}

/** The split for `--generator-cpu`, or an E_CONFIG error naming why it cannot be made here. */
export function cpuSplit(generator: number): CpuSplit {
  const cpus = os.availableParallelism();
  if (cpus < 2) throw errors.config('--generator-cpu', `needs 2 CPUs or more, this machine has ${cpus}`);
  if (generator >= cpus) throw errors.config('--generator-cpu', `must be below ${cpus}, the CPUs of this machine`);
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
  } catch {
    throw errors.config('--generator-cpu', 'needs taskset (Debian: apt-get install util-linux) on Linux');
  }
  return { generator, server: Array.from({ length: cpus }, (_, i) => i).filter((i) => i !== generator) };
}

/** Pins `pid` with all its threads, and every process below it, to `cpus`. */
export function pinTree(pid: number, cpus: number[]): void {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus.join(','), String(p)], { stdio: 'ignore' });
    } catch {
      // Gone since it was listed (a poll's short-lived backend): nothing to pin.
    }
  }
}

/** Pins the PostgreSQL server behind `adminUrl` when it runs on this machine; new backends inherit it. */
export async function pinPostgres(adminUrl: string, cpus: number[]): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const postmaster = parentOf(rows[0]?.pid ?? 0);
    if (postmaster !== undefined) pinTree(postmaster, cpus);
  } finally {
    await client.end();
  }
}

/** The parent pid from /proc, undefined for a process not on this machine (a remote DATABASE_URL). */
function parentOf(pid: number): number | undefined {
  try {
    // The command name may hold spaces and parentheses: the fields after its last ')' are fixed.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}
