// One `busbench bench` of the study, run as a child process: its tables and exit code stay its
// own, its run folder lands under the study folder, and its log beside it. The child gets the
// experiment's flags only: the bench's and the server's environment variables are dropped, so
// the command line written into the findings is the whole setup.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BENCH_OPTIONS } from '../bench/options.js';
import type { RunFile } from '../bench/results.js';
import { readRun } from '../bench/run-file.js';
import { OPTIONS } from '../lib/server-options.js';

export type BenchFlags = Record<string, string | number | boolean>;

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** Kept for the child: where the database is, and where the embedded one keeps its files. */
const PASSED = new Set([OPTIONS.databaseUrl.env, OPTIONS.dataDir.env]);
const DROPPED = new Set(
  [...Object.values(BENCH_OPTIONS), ...Object.values(OPTIONS)].map((o) => o.env).filter((env) => !PASSED.has(env)),
);

/** The flags as arguments: `true` is a bare flag, `false` leaves it out. */
export function benchArgs(flags: BenchFlags): string[] {
  return Object.entries(flags).flatMap(([name, value]) => {
    if (value === false) return [];
    return value === true ? [`--${name}`] : [`--${name}`, String(value)];
  });
}

/** The command a reader types to run the same bench by hand. */
export function commandLine(flags: BenchFlags): string {
  return ['busbench bench', ...benchArgs(flags)].join(' ');
}

export interface BenchRun {
  /** The run folder, relative to the study folder. */
  folder: string;
  run: RunFile;
  exitCode: number | null;
}

/**
 * Runs the bench into `<studyDir>/<slug>/`, its cases' fresh databases on the study's server
 * (`databaseUrl`), and reads its run.json. An exit with a run.json
 * (3: an invalid case) is a result, the findings say why; one without is an error.
 */
export async function runBenchChild(
  studyDir: string,
  slug: string,
  flags: BenchFlags,
  databaseUrl: string,
  progress: (line: string) => void,
): Promise<BenchRun> {
  const out = path.join(studyDir, slug);
  await mkdir(out, { recursive: true });
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !DROPPED.has(key)));
  const log = createWriteStream(path.join(out, 'bench.log'));
  const child = spawn(process.execPath, [CLI, 'bench', ...benchArgs(flags), '--out', out], {
    env: { ...env, [OPTIONS.databaseUrl.env]: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const lines = (stream: NodeJS.ReadableStream, forward: boolean) =>
    new Promise<void>((done) => {
      const rl = createInterface({ input: stream });
      rl.on('line', (line) => {
        log.write(`${line}\n`);
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (forward && line.trim() !== '') progress(line);
      });
      rl.on('close', done);
    });
  const [exitCode] = await Promise.all([
    new Promise<number | null>((done, fail) => {
      child.on('error', fail);
      child.on('exit', (code) => done(code));
    }),
    lines(child.stdout, false),
    lines(child.stderr, true),
  ]);
  await new Promise((done) => log.end(done));
  const folders = (await readdir(out, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  const [folder] = folders.sort().reverse();
  if (!folder) {
    throw new Error(`${commandLine(flags)} exited ${exitCode} without a run folder:\n${tail.join('\n')}`);
  }
  const run = await readRun(path.join(out, folder)).catch((err: Error) => {
    throw new Error(`${commandLine(flags)} exited ${exitCode}: ${err.message}\n${tail.join('\n')}`);
  });
  return { folder: path.join(slug, folder), run, exitCode };
}
