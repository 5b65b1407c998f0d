// `busbench study`: the experiments of the chosen seeds, in order, each through the bench on
// fresh databases; then results/study-<timestamp>/ with FINDINGS.md, findings.html, the
// charts as SVG, study.json (every run and finding) and each bench run's folder.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Progress } from '../bench/progress.js';
import { openPostgres } from '../lib/postgres.js';
import { OPTIONS } from '../lib/server-options.js';
import { type BenchFlags, type BenchRun, commandLine, runBenchChild } from './bench-run.js';
import { type Experiment, type Finding, findingHead, type StudyContext } from './experiment.js';
import { EXPERIMENTS } from './experiments.js';
import { renderFindings } from './findings.js';
import { repeatsOf, type StudyOptions } from './options.js';
import type { StudyFile, StudyRunRecord } from './study-file.js';

export interface StudyResult {
  dir: string;
  study: StudyFile;
  files: string[];
}

/** A finding for an experiment that could not run: no figures, no verdict, and why. */
export function failedFinding(e: Experiment, err: unknown): Finding {
  const message = err instanceof Error ? err.message : String(err);
  return {
    ...findingHead(e),
    setup: '',
    columns: [],
    figures: [],
    chart: { title: '', kind: 'bar', x: [], series: [], unit: '' },
    verdict: 'no verdict',
    summary: 'the experiment did not run',
    mechanism: '',
    invalid: [`the experiment failed: ${message}`],
    runs: [],
  };
}

/** Room for the largest layout's connections (dedicated-longpoll: 31 by default), the sampler and a psql. */
const MAX_CONNECTIONS = 200;

function slugOf(text: string): string {
  return text.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '');
}

/** The key under which a bench is run once per study, whichever experiment asks for it. */
function flagsKey(flags: BenchFlags): string {
  return JSON.stringify(Object.entries(flags).sort(([a], [b]) => a.localeCompare(b)));
}

export async function runStudy(options: StudyOptions, command: string): Promise<StudyResult> {
  const progress = new Progress();
  const startedAt = new Date();
  const dir = path.join(options.out, `study-${startedAt.toISOString().replace(/[:.]/g, '-')}`);
  const repeat = repeatsOf(options);
  const experiments = options.seeds.flatMap((seed) => EXPERIMENTS.filter((e) => e.seed === seed));
  progress.log(
    `[study] ${experiments.length} experiment(s) of seed(s) ${options.seeds.join(', ')}, ${repeat} run(s) per case${options.quick ? ', quick' : ''}; writing ${dir}/`,
  );
  // One PostgreSQL for the whole study (each bench still gives every case a fresh database):
  // an embedded server's initdb and start would otherwise be paid by every bench.
  const database = await openPostgres({
    databaseUrl: process.env[OPTIONS.databaseUrl.env] ?? '',
    dataDir: process.env[OPTIONS.dataDir.env] ?? OPTIONS.dataDir.default,
    maxConnections: MAX_CONNECTIONS,
    log: (line) => progress.log(`[study] ${line}`),
  });
  const stop = (signal: NodeJS.Signals) => {
    progress.log(`[study] ${signal}: stopping PostgreSQL`);
    void database.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const runs: StudyRunRecord[] = [];
  const findings: Finding[] = [];
  const timings: StudyFile['timings'] = [];
  // Two experiments that ask for the same bench (the same flags) share its one run.
  const benches = new Map<string, Promise<BenchRun>>();
  const measurements = new Map<string, Promise<unknown>>();
  try {
    for (const [i, e] of experiments.entries()) {
      const prefix = `[study ${i + 1}/${experiments.length} ${e.seed}/${e.id}]`;
      const log = (line: string) => progress.log(`${prefix} ${line}`);
      const ctx: StudyContext = {
        quick: options.quick,
        repeat,
        databaseUrl: database.adminUrl,
        progress: log,
        folder: async (slug) => {
          const name = `${e.seed}-${slugOf(slug)}`;
          await mkdir(path.join(dir, name), { recursive: true });
          return { dir: path.join(dir, name), name };
        },
        shared: <T>(key: string, make: () => Promise<T>) => {
          const pending = measurements.get(key);
          if (pending) {
            log(`${key}: the same measurement as an earlier experiment, reused`);
            return pending as Promise<T>;
          }
          const made = make();
          measurements.set(key, made);
          return made;
        },
        bench: async (label, flags) => {
          const key = flagsKey(flags);
          let pending = benches.get(key);
          if (pending) {
            log(`${label}: the same bench as an earlier experiment, reused`);
          } else {
            log(`${label}: ${commandLine(flags)}`);
            const started = Date.now();
            pending = runBenchChild(dir, `${e.seed}-${slugOf(label)}`, flags, database.adminUrl, log).then((r) => {
              runs.push({
                label,
                flags,
                command: commandLine(flags),
                folder: r.folder,
                exit_code: r.exitCode,
                seconds: Math.round((Date.now() - started) / 1000),
              });
              return r;
            });
            benches.set(key, pending);
          }
          const { folder, run } = await pending;
          return { folder, run };
        },
      };
      const started = Date.now();
      log(e.claim.length > 90 ? `${e.claim.slice(0, 87)}...` : e.claim);
      let finding: Finding;
      try {
        finding = await e.run(ctx);
      } catch (err) {
        finding = failedFinding(e, err);
        process.exitCode = 1;
      }
      findings.push(finding);
      const seconds = Math.round((Date.now() - started) / 1000);
      timings.push({ seed: e.seed, id: e.id, seconds });
      log(`${finding.verdict}${finding.summary ? `: ${finding.summary}` : ''} (${seconds} s)`);
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await database.stop();
  }
  const study: StudyFile = {
    schema: 'busbench/study@1',
    command,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    quick: options.quick,
    repeat,
    seeds: options.seeds,
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model ?? 'unknown',
      load_average: os.loadavg().map((l) => Math.round(l * 100) / 100),
    },
    runs,
    timings,
    findings,
  };
  const files = await writeStudyFiles(dir, study);
  const total = Math.round((Date.parse(study.finished_at) - startedAt.getTime()) / 1000);
  progress.log(
    `[study] done in ${Math.floor(total / 60)} min ${total % 60} s (${total} s), load average ${study.machine.load_average.join(' / ')}`,
  );
  return { dir, study, files };
}

/** FINDINGS.md, findings.html, charts/*.svg and study.json; returns the paths written. */
export async function writeStudyFiles(dir: string, study: StudyFile): Promise<string[]> {
  const { markdown, html, svgs } = renderFindings(study);
  await mkdir(path.join(dir, 'charts'), { recursive: true });
  const files: [string, string][] = [
    ['study.json', `${JSON.stringify(study, null, 2)}\n`],
    ['FINDINGS.md', markdown],
    ['findings.html', html],
    ...svgs.map(({ name, svg }): [string, string] => [path.join('charts', name), svg]),
  ];
  for (const [name, text] of files) await writeFile(path.join(dir, name), text);
  return files.map(([name]) => path.join(dir, name));
}
