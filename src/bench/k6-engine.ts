// `busbench bench --engine k6`: the same cases, but the load comes from a k6 on PATH running
// loadtests/<profile>.js. Each case gets a fresh database, its layout and a db-exporter for
// k6's sampler; k6's handleSummary writes the case's run.json, which joins this run.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../../loadtests/lib/profiles.js';
import { ERROR_CODES, errors } from '../lib/errors.js';
import { startDbExporter } from './db-exporter.js';
import { watchChildProcess } from './generator-load.js';
import type { RunningCase } from './lifecycle.js';
import type { CaseResult, RunFile } from './results.js';
import type { Case } from './sweep.js';

const LOADTESTS = fileURLToPath(new URL('../../../loadtests/', import.meta.url));

/** Fails early, before any database is made, when there is no k6 to drive. */
export function assertK6(): void {
  const found = spawnSync('k6', ['version'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) throw errors.noK6();
}

/** k6's exit code when a threshold failed (99), which `busbench bench --threshold` shares: one definition. */
export const K6_THRESHOLDS_FAILED = ERROR_CODES.E_THRESHOLDS.exitCode;

/**
 * Runs one case's load with k6 against its layout; resolves to the case k6's handleSummary
 * wrote and k6's exit code, which the bench passes on (a failed threshold fails the run).
 */
export async function runK6Case(
  c: Case,
  running: RunningCase,
  profile: Profile,
  options: {
    /** Tags every k6 metric (Grafana's testid variable). */
    testid: string;
    outDir: string;
  },
): Promise<{ result: CaseResult; exitCode: number | null }> {
  const { layout } = running;
  await mkdir(options.outDir, { recursive: true });
  const exporter = await startDbExporter({ databaseUrl: running.databaseUrl });
  const env: Record<string, string> = {
    BASE_URL: layout.url,
    BUS_URL: layout.busUrl,
    TOPOLOGY: c.topology,
    TESTID: options.testid,
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
    DB_METRICS_URL: `${exporter.url}/metrics`,
    OUT_DIR: options.outDir,
  };
  const args = ['run', '--quiet', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`])];
  args.push(path.join(LOADTESTS, `${profile.name}.js`));
  running.progress.log(`[busbench] k6 ${args.join(' ')}`);
  try {
    const child = spawn('k6', args, { stdio: ['ignore', 'inherit', 'inherit'] });
    const watch = child.pid === undefined ? undefined : watchChildProcess(child.pid, os.cpus().length);
    const exitCode = await new Promise<number | null>((done, fail) => {
      child.once('error', fail);
      child.once('exit', (code) => done(code));
    });
    const generator = watch?.stop();
    const file = path.join(options.outDir, 'run.json');
    const text = await readFile(file, 'utf8').catch(() => {
      throw new Error(`k6 exited with code ${exitCode} and wrote no ${file}; its output above says why`);
    });
    const result = (JSON.parse(text) as RunFile).cases[0];
    if (!result) throw new Error(`k6 wrote no case to ${file} (exit code ${exitCode})`);
    const warnings = [...result.warnings];
    if (exitCode !== 0 && exitCode !== K6_THRESHOLDS_FAILED) warnings.push(`k6 exited with code ${exitCode}`);
    return {
      result: {
        ...result,
        id: c.id,
        presence: c.presence,
        isolation: c.isolation,
        dispatch: c.dispatch,
        server_config: running.serverConfig(),
        warnings,
        ...(generator ? { generator } : {}),
      },
      exitCode,
    };
  } finally {
    await exporter.close();
  }
}
