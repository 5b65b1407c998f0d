// What the seed experiments that measure a load the bench does not generate (membership
// changes, parked polls timed against posts, stale authorizations, a page in Chromium) share:
// layouts on fresh databases through the bench's Lab, HTTP on a new connection per request
// (so cluster-fork's workers each get some), the layout's /metrics, and mean +- spread.
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { parsePrometheusText, sum } from '../../loadtests/lib/prometheus-text.js';
import { Lab, type RunningCase } from '../bench/lifecycle.js';
import { Progress } from '../bench/progress.js';
import { type Config, type ConfigKey, loadConfig, OPTIONS } from '../lib/server-options.js';
import type { CaseRef, StudyContext } from './experiment.js';

export type ServerFlags = Partial<Record<ConfigKey, string>>;

/** The server settings of one case: the flags given, ports picked by the system, the study's database, nothing from BUSBENCH_*. */
export function caseConfig(flags: ServerFlags, databaseUrl: string): Config {
  return loadConfig({ port: '0', busPort: '0', ...flags }, { [OPTIONS.databaseUrl.env]: databaseUrl });
}

/** `busbench serve` flags a reader types to start the same layout by hand. */
export function serveCommand(flags: ServerFlags): string {
  const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return `busbench serve ${Object.entries(flags)
    .map(([key, value]) => `--${kebab(key)} ${value}`)
    .join(' ')}`;
}

/**
 * Runs `measure` on each case, `ctx.repeat` times, each time on a fresh database and layout;
 * one PostgreSQL for the whole experiment. Results by case name, in run order.
 */
export async function measureCases<T>(
  ctx: StudyContext,
  cases: { name: string; flags: ServerFlags }[],
  measure: (running: RunningCase, name: string) => Promise<T>,
): Promise<Map<string, T[]>> {
  const configs = cases.map((c) => caseConfig(c.flags, ctx.databaseUrl));
  const lab = await Lab.open(caseConfig({}, ctx.databaseUrl), configs, new Progress());
  const results = new Map<string, T[]>(cases.map((c) => [c.name, []]));
  try {
    for (let r = 0; r < ctx.repeat; r++) {
      for (const [i, c] of cases.entries()) {
        const label = `${c.name}${ctx.repeat > 1 ? ` (run ${r + 1}/${ctx.repeat})` : ''}`;
        ctx.progress(`${label}: measuring`);
        results.get(c.name)?.push(await lab.run(label, configs[i] as Config, (running) => measure(running, c.name)));
      }
    }
  } finally {
    await lab.close();
  }
  return results;
}

/** The file under an experiment's own folder that holds every figure it measured. */
export const MEASUREMENTS_FILE = 'measurements.json';

/** measurements.json: the exact setup and every raw figure of an experiment that measures itself. */
export interface MeasurementsFile {
  schema: 'busbench/study-measurements@1';
  seed: string;
  experiment: string;
  quick: boolean;
  repeat: number;
  written_at: string;
  /** The experiment's own settings (rounds, seconds, clients...), as it ran them. */
  parameters: Record<string, unknown>;
  cases: {
    id: string;
    flags: ServerFlags;
    serve: string;
    valid: boolean;
    reasons: string[];
    /** What each run measured, in run order. */
    runs: unknown[];
  }[];
}

/**
 * Writes `<seed>-<id>/measurements.json` under the study folder and returns it as the finding's
 * run and case refs. A case is invalid when a line of `invalid` starts with its name; a line
 * naming no case counts against every case.
 */
export async function saveMeasurements<T>(
  ctx: StudyContext,
  experiment: { seed: string; id: string },
  parameters: Record<string, unknown>,
  cases: { name: string; flags: ServerFlags }[],
  results: Map<string, T[]>,
  invalid: string[],
): Promise<{ runs: string[]; cases: CaseRef[] }> {
  const { dir, name } = await ctx.folder(experiment.id);
  const named = (line: string) => cases.some((c) => line.startsWith(`${c.name}:`));
  const entries = cases.map((c) => {
    const reasons = invalid.filter((line) => line.startsWith(`${c.name}:`) || !named(line));
    return {
      id: c.name,
      flags: c.flags,
      serve: serveCommand(c.flags),
      valid: reasons.length === 0,
      reasons,
      runs: results.get(c.name) ?? [],
    };
  });
  const file: MeasurementsFile = {
    schema: 'busbench/study-measurements@1',
    seed: experiment.seed,
    experiment: experiment.id,
    quick: ctx.quick,
    repeat: ctx.repeat,
    written_at: new Date().toISOString(),
    parameters,
    cases: entries,
  };
  await writeFile(path.join(dir, MEASUREMENTS_FILE), `${JSON.stringify(file, null, 2)}\n`);
  return { runs: [name], cases: entries.map((c) => ({ run: name, id: c.id, valid: c.valid })) };
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** One request on a new TCP connection, JSON in and out; bounded by `timeoutMs`. */
export function request(
  method: string,
  url: string,
  options: { token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<Reply> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((done, fail) => {
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: {
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = { text };
          }
          done({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${url}: no answer`)));
    req.on('error', fail);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export async function login(url: string, user: string): Promise<string> {
  const reply = await request('POST', `${url}/session`, { body: { login: user, password: 'busbench' } });
  if (reply.status !== 201) throw new Error(`login ${user}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return String(reply.body.token);
}

/** The layout's /metrics, summed over processes: `read(name, labels)`. */
export async function scrape(url: string): Promise<(name: string, labels?: Record<string, string>) => number> {
  const reply = await request('GET', `${url}/metrics`, { timeoutMs: 10_000 });
  const samples = parsePrometheusText(String(reply.body.text ?? ''));
  return (name, labels = {}) => sum(samples, name, labels);
}

/** Mean and spread as the bench reports repeats: standard deviation, half the range with 2 runs, 0 with 1. */
export function meanSpread(values: (number | null)[]): { mean: number | null; spread: number; n: number } {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (xs.length === 0) return { mean: null, spread: 0, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length === 1) return { mean, spread: 0, n: 1 };
  if (xs.length === 2) return { mean, spread: Math.abs((xs[0] ?? 0) - (xs[1] ?? 0)) / 2, n: 2 };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, spread: Math.sqrt(variance), n: xs.length };
}

/** "12.3 +- 0.4" over the repeats, "12.3" from one run (runsNote says so), "n/a" when no run had the figure. */
export function show(values: (number | null)[], digits = 1): string {
  const { mean, spread, n } = meanSpread(values);
  if (mean === null) return 'n/a';
  return n > 1 ? `${mean.toFixed(digits)} +- ${spread.toFixed(digits)}` : mean.toFixed(digits);
}

/**
 * How many runs the figures rest on, for a finding's setup: with one run there is no spread,
 * and these experiments do not reckon counting noise (seed 000's rule), so the reader is told
 * that a difference was taken as it is.
 */
export function runsNote(ctx: StudyContext): string {
  return ctx.repeat > 1
    ? `${ctx.repeat} runs each (figures: mean +- spread)`
    : 'one run each (no spread: a difference is taken as measured, not weighed against noise; --repeat 3 weighs it)';
}

export function meanOf(values: (number | null)[]): number | null {
  return meanSpread(values).mean;
}

/**
 * Two figures differ beyond noise when their means are further apart than the sum of their
 * spreads (and not equal). One run of each has no spread, so any difference counts (runsNote).
 */
export function beyondNoise(a: (number | null)[], b: (number | null)[]): boolean {
  const x = meanSpread(a);
  const y = meanSpread(b);
  if (x.mean === null || y.mean === null) return false;
  return Math.abs(x.mean - y.mean) > x.spread + y.spread && x.mean !== y.mean;
}

/** Per 100 of `of`; null (no rate) when nothing was measured. */
export function per100(count: number, of: number): number | null {
  return of > 0 ? (100 * count) / of : null;
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
