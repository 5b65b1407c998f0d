// `busbench bench --find-max <expr>`: per layout, the load goes up a step at a time until an
// expression breaks or the case is invalid, and the run reports the largest load each layout
// held. The schedule doubles the users from the starting --users, tabs per browser fixed, for
// at most --find-max-steps steps and never beyond --find-max-users: bounded in count, and each
// step's cases are bounded in time by the profile's phases.
import type { Profile } from '../../loadtests/lib/profiles.js';
import { errors } from '../lib/errors.js';
import type { BenchOptions } from './options.js';
import type { Progress } from './progress.js';
import { loadLineId } from './repeats.js';
import type { CaseResult, FindMax, FindMaxLine, LoadRecord } from './results.js';
import { type Case, type Load, loadRecord } from './sweep.js';
import { evaluateThresholds, type Threshold } from './thresholds.js';

/** The loads find-max tries, in order: the users doubled from `start` while within both bounds. */
export function findMaxSchedule(start: Load, steps: number, maxUsers: number): Load[] {
  const loads: Load[] = [];
  for (let users = start.users; loads.length < steps && users <= maxUsers; users *= 2) {
    loads.push({ users, tabsPerBrowser: start.tabsPerBrowser });
  }
  return loads;
}

/** The schedule of the run's options, or E_CONFIG when they leave find-max nothing to step. */
export function scheduleOf(options: BenchOptions, profile: Profile): Load[] {
  if ((options.profileUsers?.length ?? 1) > 1 || (options.tabs?.length ?? 1) > 1) {
    throw errors.config('--find-max', 'steps the load itself: give one --users (its start) and one --tabs, not lists');
  }
  if (options.browser) throw errors.config('--find-max', 'steps the simulated load; it does not apply to --browser');
  const start = { users: profile.users, tabsPerBrowser: profile.tabsPerBrowser };
  const schedule = findMaxSchedule(start, options.findMaxSteps, options.findMaxUsers);
  if (schedule.length === 0) {
    throw errors.config('--find-max-users', `(${options.findMaxUsers}) is below the starting --users (${start.users})`);
  }
  return schedule;
}

/** A step's cases as measured: the valid and invalid ones, and "id: message" for each that failed to run. */
export interface Measured {
  results: CaseResult[];
  failed: string[];
}

export interface FindMaxRun {
  expressions: Threshold[];
  schedule: Load[];
  /** The cases of one step, every layout and sweep value, before find-max leaves out the lines that broke. */
  casesAt: (load: Load) => Case[];
  measure: (cases: Case[]) => Promise<Measured>;
  profile: Profile;
  progress: Progress;
}

/**
 * Why a line broke at this step, or null when it held: every run of it must have run, be
 * valid and hold every expression (with --repeat, one bad run breaks the step).
 */
function whyBroken(cases: Case[], measured: Measured, expressions: Threshold[]): string | null {
  for (const c of cases) {
    const result = measured.results.find((r) => r.id === c.id);
    if (!result) return `failed to run: ${measured.failed.find((f) => f.startsWith(`${c.id}: `)) ?? c.id}`;
    if (result.validity && !result.validity.valid) return `${c.id} invalid: ${result.validity.reasons.join('; ')}`;
    const broken = evaluateThresholds(expressions, [result]).filter((t) => !t.ok);
    if (broken.length > 0) return broken.map((t) => `${t.expression} broke in ${c.id} (${t.value})`).join('; ');
  }
  return null;
}

/** Steps every line up the schedule until it breaks; the lines that held go on to the next load. */
export async function runFindMax(run: FindMaxRun): Promise<Measured & { findMax: FindMax }> {
  const lines = new Map<string, FindMaxLine>();
  for (const c of run.casesAt(run.schedule[0] as Load)) {
    const id = loadLineId(c.id);
    if (!lines.has(id)) lines.set(id, { id, held: null, broke_at: null, reason: null });
  }
  const all: Measured = { results: [], failed: [] };
  const tried: LoadRecord[] = [];
  for (const [step, load] of run.schedule.entries()) {
    const open = [...lines.values()].filter((l) => l.broke_at === null);
    if (open.length === 0) break;
    const record = loadRecord(run.profile, load);
    tried.push(record);
    run.progress.log(
      `[busbench] find-max step ${step + 1}/${run.schedule.length}: ${record.users} users (${record.tabs} tabs) for ${open.map((l) => l.id).join(', ')}`,
    );
    const cases = run.casesAt(load).filter((c) => lines.get(loadLineId(c.id))?.broke_at === null);
    const measured = await run.measure(cases);
    all.results.push(...measured.results);
    all.failed.push(...measured.failed);
    for (const line of open) {
      const reason = whyBroken(
        cases.filter((c) => loadLineId(c.id) === line.id),
        measured,
        run.expressions,
      );
      if (reason === null) line.held = record;
      else Object.assign(line, { broke_at: record, reason });
    }
  }
  return {
    ...all,
    findMax: { expressions: run.expressions.map((t) => t.expression), schedule: tried, lines: [...lines.values()] },
  };
}

function loadText(l: LoadRecord): string {
  return `users=${l.users} (${l.tabs} tabs)`;
}

/** The held load in words: "users=40 (120 tabs)", "at least ..." when the schedule ended first. */
export function heldText(line: FindMaxLine): string {
  if (line.held === null) return 'none (broke at the first load)';
  return line.broke_at === null ? `at least ${loadText(line.held)}` : loadText(line.held);
}

/** The terminal's find-max table: each line, the load it held, where and why it broke. */
export function formatFindMax(f: FindMax): string {
  const rows = f.lines.map((l) => [
    l.id,
    heldText(l),
    l.broke_at ? loadText(l.broke_at) : '-',
    l.reason ?? 'held to the end of the schedule',
  ]);
  const header = ['layout', 'largest load held', 'broke at', 'why'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]?.length ?? 0)));
  const table = all.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  ')).join('\n');
  return `find-max ${f.expressions.join(', ')}, users doubled each step; tried: ${f.schedule.map((l) => l.users).join(', ')}\n${table}\n`;
}
