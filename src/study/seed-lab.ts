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
import { spreadOf } from '../bench/repeats.js';
import { type Config, type ConfigKey, loadConfig, OPTIONS } from '../lib/server-options.js';
import type { CaseRef, StudyContext } from './experiment.js';
import { countingNoiseOf } from './figures.js';

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

/**
 * Per-run rates with the events each rests on (counted()). With one run there is no spread;
 * the counting noise, sqrt(n) events, stands in for it as in figures.ts.
 */
export interface Counted {
  values: (number | null)[];
  /** The counting noise of a one-run figure; null with no run. */
  noise: number | null;
}

/** What the figure helpers take: per-run values, weighed by their spread alone, or counted rates. */
export type Runs = (number | null)[] | Counted;

/** `value` per run, with `events` (the count it rests on) and `perEvent` (what one event adds to it). */
function counted<T>(
  runs: T[],
  value: (r: T) => number | null,
  events: (r: T) => number,
  perEvent: (r: T) => number,
): Counted {
  const avg = (f: (r: T) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  return {
    values: runs.map(value),
    noise: runs.length > 0 ? countingNoiseOf(avg(events), avg(perEvent)) : null,
  };
}

/** `count` per `per` (100 by default) of `of` in each run, null (no rate) where nothing was measured; with its counting noise. */
export function rate<T>(runs: T[], count: (r: T) => number, of: (r: T) => number, per = 100): Counted {
  return counted(
    runs,
    (r) => (of(r) > 0 ? (per * count(r)) / of(r) : null),
    count,
    (r) => (of(r) > 0 ? per / of(r) : 0),
  );
}

/**
 * Mean and spread as the bench reports repeats (standard deviation, half the range with 2
 * runs); with one run, the counting noise of counted rates, else 0.
 */
export function meanSpread(runs: Runs): { mean: number | null; spread: number; n: number; counting: boolean } {
  const { values, noise } = Array.isArray(runs) ? { values: runs, noise: null } : runs;
  const s = spreadOf(values.filter((v): v is number => v !== null && Number.isFinite(v)));
  if (!s) return { mean: null, spread: 0, n: 0, counting: false };
  if (s.spread !== null) return { mean: s.mean, spread: s.spread, n: s.values.length, counting: false };
  return { mean: s.mean, spread: noise ?? 0, n: 1, counting: noise !== null };
}

/** "12.3 +- 0.4" over the repeats, "12.3 +- 3.5 (counting)" or "12.3" from one run (runsNote says so), "n/a" when no run had the figure. */
export function show(runs: Runs, digits = 1): string {
  const { mean, spread, n, counting } = meanSpread(runs);
  if (mean === null) return 'n/a';
  if (n > 1) return `${mean.toFixed(digits)} +- ${spread.toFixed(digits)}`;
  return counting ? `${mean.toFixed(digits)} +- ${spread.toFixed(digits)} (counting)` : mean.toFixed(digits);
}

/**
 * How many runs the figures rest on, for a finding's setup: with one run there is no spread,
 * so a rate that counts events is weighed against its counting noise and any other figure is
 * taken as it is; the reader is told which.
 */
export function runsNote(ctx: StudyContext): string {
  return ctx.repeat > 1
    ? `${ctx.repeat} runs each (figures: mean +- spread)`
    : 'one run each (no spread: a rate of counted events is weighed against its counting noise, sqrt(n) events, ' +
        'marked "(counting)"; another difference is taken as measured; --repeat 3 weighs it)';
}

export function meanOf(runs: Runs): number | null {
  return meanSpread(runs).mean;
}

/**
 * Two figures differ beyond noise when their means are further apart than the sum of their
 * spreads (or counting noises) and not equal. One run of an uncounted figure has no spread,
 * so any difference counts (runsNote).
 */
export function beyondNoise(a: Runs, b: Runs): boolean {
  const x = meanSpread(a);
  const y = meanSpread(b);
  if (x.mean === null || y.mean === null) return false;
  return Math.abs(x.mean - y.mean) > x.spread + y.spread && x.mean !== y.mean;
}

/**
 * Whether a modelled bug shows: true when its case's figure exceeds the fixed case's beyond the
 * noise; false when it does not (as few or fewer, or none at all); null when it exceeds it within
 * the noise, too few events to tell, which gives no verdict.
 */
export function bugShows(bug: Runs, fixed: Runs): boolean | null {
  const b = meanOf(bug) ?? 0;
  if (b <= (meanOf(fixed) ?? 0)) return false;
  return beyondNoise(bug, fixed) ? true : null;
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
