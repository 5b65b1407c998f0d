// `busbench bench --engine k6`: the same cases, but the load comes from a k6 on PATH running
// loadtests/<profile>.js (bundled by `npm run build` into dist/k6/, see scripts/build-k6.mjs).
// Each case gets a fresh database, its layout and a db-exporter for k6's sampler; k6's
// handleSummary writes the case's run.json, which joins this run. With several instances,
// each k6 runs one execution segment of the same test and their run.json files are merged.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../../loadtests/lib/profiles.js';
import { ERROR_CODES, errors } from '../lib/errors.js';
import { startDbExporter } from './db-exporter.js';
import { watchChildProcess } from './generator-load.js';
import { mergeK6Cases } from './k6-merge.js';
import type { RunningCase } from './lifecycle.js';
import type { CaseResult, GeneratorFigures, RunFile } from './results.js';
import type { Case } from './sweep.js';

const SCRIPTS = fileURLToPath(new URL('../../k6/', import.meta.url));

/** Fails early, before any database is made, when there is no k6 to drive. */
export function assertK6(): void {
  const found = spawnSync('k6', ['version'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) throw errors.noK6();
}

/** k6's exit code when a threshold failed (99), which `busbench bench --threshold` shares: one definition. */
export const K6_THRESHOLDS_FAILED = ERROR_CODES.E_THRESHOLDS.exitCode;

/**
 * How long the instances of a distributed run get to start before the shared timeline does:
 * k6 creates every VU before the first iteration (about 1 ms each here, bundled).
 */
function startAllowanceMs(profile: Profile): number {
  return 2000 + 2 * profile.users * profile.browsersPerUser;
}

/** k6's --execution-segment-sequence for `n` equal instances: "0,1/n,2/n,...,1". */
export function segmentSequence(n: number): string[] {
  return Array.from({ length: n + 1 }, (_, i) => (i === 0 ? '0' : i === n ? '1' : `${i}/${n}`));
}

/** The environment every instance of the case's k6 gets: the profile, as loadtests/*.js read it. */
export function k6Env(profile: Profile): Record<string, string> {
  return {
    USERS: String(profile.users),
    BROWSERS: String(profile.browsersPerUser),
    TABS: String(profile.tabsPerBrowser),
    TAB_MODE: profile.tabMode,
    WINDOWS: String(profile.windowsPerBrowser),
    HIDDEN_SLOWDOWN: profile.hiddenSlowdown ? 'on' : 'off',
    ARRIVALS: profile.arrivals,
    SEED: String(profile.seed),
    CONNECTIONS: String(profile.connectionsPerOrigin),
    WARMUP: String(profile.warmup),
    DURATION: String(profile.duration),
    DRAIN: String(profile.drain),
    RATE: String(profile.rate),
  };
}

/** Runs one k6 to its end; resolves to its exit code. */
/** Runs one k6 process; its CPU is watched so a saturated generator is caught (validity.ts). */
async function runK6(args: string[]): Promise<{ code: number | null; generator: GeneratorFigures | undefined }> {
  const child = spawn('k6', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const watch = child.pid === undefined ? undefined : watchChildProcess(child.pid, os.cpus().length);
  const code = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('exit', (exit) => done(exit));
  });
  return { code, generator: watch?.stop() };
}

/** Of several k6 instances, the busiest one: if it was saturated, the case measured it. */
function busiest(figures: (GeneratorFigures | undefined)[]): GeneratorFigures | undefined {
  let worst: GeneratorFigures | undefined;
  for (const f of figures) if (f && (worst === undefined || (f.cpu_percent ?? 0) > (worst.cpu_percent ?? 0))) worst = f;
  return worst;
}

async function readCase(outDir: string, exitCode: number | null): Promise<CaseResult> {
  const file = path.join(outDir, 'run.json');
  const text = await readFile(file, 'utf8').catch(() => {
    throw new Error(`k6 exited with code ${exitCode} and wrote no ${file}; its output above says why`);
  });
  const result = (JSON.parse(text) as RunFile).cases[0];
  if (!result) throw new Error(`k6 wrote no case to ${file} (exit code ${exitCode})`);
  return result;
}

/** The exit code a case passes on: the first failure other than thresholds, else 99 if any broke, else 0. */
function worstExit(codes: (number | null)[]): number | null {
  const other = codes.find((c) => c !== 0 && c !== K6_THRESHOLDS_FAILED);
  if (other !== undefined) return other;
  return codes.includes(K6_THRESHOLDS_FAILED) ? K6_THRESHOLDS_FAILED : 0;
}

/**
 * Runs one case's load with k6 against its layout (`instances` k6 processes, each one
 * execution segment); resolves to the case k6's handleSummary wrote, merged across instances,
 * and k6's exit code, which the bench passes on (a failed threshold fails the run).
 */
export async function runK6Case(
  c: Case,
  running: RunningCase,
  profile: Profile,
  options: {
    /** Tags every k6 metric (Grafana's testid variable). */
    testid: string;
    outDir: string;
    /** k6 processes sharing the load, each one execution segment. */
    instances: number;
  },
): Promise<{ result: CaseResult; exitCode: number | null }> {
  const { layout } = running;
  const n = options.instances;
  await mkdir(options.outDir, { recursive: true });
  const exporter = await startDbExporter({ databaseUrl: running.databaseUrl });
  const env: Record<string, string> = {
    BASE_URL: layout.url,
    BUS_URL: layout.busUrl,
    TOPOLOGY: c.topology,
    TRANSPORT: c.transport,
    TESTID: options.testid,
    ...k6Env(profile),
    DB_METRICS_URL: `${exporter.url}/metrics`,
  };
  if (n > 1) {
    env.T0 = String(Date.now() + startAllowanceMs(profile));
    env.RUN_TAG = `k6-${randomBytes(4).toString('hex')}`;
  }
  const browsers = profile.users * profile.browsersPerUser;
  const done = await whenBrowsersDone(browsers, () => {
    running.progress.log(
      `[busbench] ${running.label}: k6 checked every browser; stopping the layout ends the parked polls`,
    );
    void layout.stop();
  });
  env.DONE_URL = done.url;
  const sequence = segmentSequence(n);
  const script = path.join(SCRIPTS, `${profile.name}.js`);
  const dirs = Array.from({ length: n }, (_, i) => (n === 1 ? options.outDir : path.join(options.outDir, `${i + 1}`)));
  try {
    const runs = await Promise.all(
      dirs.map(async (dir, i) => {
        await mkdir(dir, { recursive: true });
        const args = ['run', '--quiet', '--compatibility-mode=base'];
        if (n > 1) {
          args.push('--execution-segment', `${sequence[i]}:${sequence[i + 1]}`);
          args.push('--execution-segment-sequence', sequence.join(','));
        }
        args.push(...Object.entries({ ...env, OUT_DIR: dir }).flatMap(([k, v]) => ['-e', `${k}=${v}`]), script);
        running.progress.log(`[busbench] k6 ${args.join(' ')}`);
        return runK6(args);
      }),
    );
    const codes = runs.map((r) => r.code);
    const generator = busiest(runs.map((r) => r.generator));
    const parts = await Promise.all(dirs.map((dir, i) => readCase(dir, codes[i] ?? null)));
    const result = n === 1 ? (parts[0] as CaseResult) : mergeK6Cases(parts);
    const exitCode = worstExit(codes);
    const warnings = [...result.warnings];
    codes.forEach((code, i) => {
      if (code !== 0 && code !== K6_THRESHOLDS_FAILED) {
        warnings.push(n === 1 ? `k6 exited with code ${code}` : `k6 instance ${i + 1} exited with code ${code}`);
      }
    });
    return {
      result: {
        ...result,
        id: c.id,
        presence: c.presence,
        isolation: c.isolation,
        dispatch: c.dispatch,
        transport: c.transport,
        server_config: running.serverConfig(),
        warnings,
        ...(generator ? { generator } : {}),
      },
      exitCode,
    };
  } finally {
    await Promise.all([exporter.close(), done.close()]);
  }
}

/**
 * A listener on 127.0.0.1 that every k6 browser tells when its delivery check is done
 * (DONE_URL): k6 cannot cancel a parked poll, and a worker-threads layout may not even get
 * to a post that would answer them; stopping the layout does, as the Node engine does.
 */
async function whenBrowsersDone(browsers: number, allDone: () => void) {
  let count = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(204).end();
    if (req.method === 'POST' && ++count === browsers) allDone();
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/done`,
    close: () =>
      new Promise<void>((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}
