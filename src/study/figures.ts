// What the experiments compute from their runs: a case's repeats (valid ones only), a figure
// over them as mean +- spread, and whether two figures differ by more than their noise. With
// one run per case there is no spread; for a figure that counts events (conflicts) the
// counting noise, sqrt(n) events, stands in for it, as src/bench/validity.ts's stability
// warning reckons; a figure with neither is compared as it is, and the text says so.
import { repeatGroupId, type Spread, spreadName, spreadOf } from '../bench/repeats.js';
import type { CaseResult, RunFile } from '../bench/results.js';
import { failedAttempts, validityOf } from '../bench/validity.js';
import type { CaseRef, ChartSpec, Finding } from './experiment.js';

/** One case of a run with its repeats: the valid ones for the figures, the invalid ones named. */
export interface Group {
  id: string;
  /** The run folder, relative to the study folder. */
  folder: string;
  valid: CaseResult[];
  invalid: { id: string; reasons: string[] }[];
  refs: CaseRef[];
}

/** What picks a case out of a run: its layout, isolation or presence, as run.json names them. */
export type CaseMatch = Partial<Pick<CaseResult, 'topology' | 'isolation' | 'presence'>>;

/** The repeats of the one case of `run` that `match` picks; none or several is a bug in the experiment. */
export function group(bench: { folder: string; run: RunFile }, match: CaseMatch): Group {
  const { folder, run } = bench;
  const picked = run.cases.filter((c) =>
    Object.entries(match).every(([key, value]) => c[key as keyof CaseMatch] === value),
  );
  const ids = [...new Set(picked.map((c) => repeatGroupId(c.id)))];
  if (ids.length !== 1 || !ids[0]) {
    throw new Error(`${folder}: ${JSON.stringify(match)} picks ${ids.length} cases (${ids.join(', ')}), not one`);
  }
  const valid: CaseResult[] = [];
  const invalid: Group['invalid'] = [];
  const refs: CaseRef[] = [];
  for (const c of picked) {
    const v = validityOf(c, run);
    refs.push({ run: folder, id: c.id, valid: v.valid });
    if (v.valid) valid.push(c);
    else invalid.push({ id: c.id, reasons: v.reasons });
  }
  return { id: ids[0], folder, valid, invalid, refs };
}

/** "case #2 (folder): reason; reason" for every invalid repeat of the groups. */
export function invalidOf(groups: Group[]): string[] {
  return groups.flatMap((g) => g.invalid.map((c) => `${c.id} in ${g.folder}: ${c.reasons.join('; ')}`));
}

export interface Figure {
  spread: Spread | null;
  /** Counting noise for a one-run figure: the value of one event times sqrt(events); null when it counts no events. */
  countingNoise: number | null;
  digits: number;
}

/**
 * A figure over the group's valid runs. `events` (the count the figure rests on) and `perEvent`
 * (what one event adds to the figure) give the counting noise used when no spread was measured.
 */
export function figure(
  g: Group,
  value: (c: CaseResult) => number | null,
  digits: number,
  counting?: { events: (c: CaseResult) => number; perEvent: (c: CaseResult) => number },
): Figure {
  const spread = spreadOf(g.valid.map(value));
  let countingNoise: number | null = null;
  if (counting && g.valid.length > 0) {
    const mean = (f: (c: CaseResult) => number) => g.valid.reduce((a, c) => a + f(c), 0) / g.valid.length;
    countingNoise = countingNoiseOf(mean(counting.events), mean(counting.perEvent));
  }
  return { spread, countingNoise, digits };
}

/** What `events` counted events leave uncertain in a figure one event moves by `perEvent`: sqrt(n) events. */
export function countingNoiseOf(events: number, perEvent: number): number {
  // No event at all still leaves the figure uncertain by about one event.
  return perEvent * Math.sqrt(Math.max(1, events));
}

export function mean(f: Figure): number | null {
  return f.spread?.mean ?? null;
}

/** The noise two figures are compared with: the measured spread, else the counting noise, else 0. */
export function noise(f: Figure): number {
  return f.spread?.spread ?? f.countingNoise ?? 0;
}

function num(value: number, digits: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** "12.3 +- 1.2", "12.3 +- 3.5 (counting)", "10 (one run)" or "n/a". */
export function show(f: Figure): string {
  if (!f.spread) return 'n/a';
  const m = num(f.spread.mean, f.digits);
  if (f.spread.spread !== null) return `${m} +- ${num(f.spread.spread, f.digits)}`;
  if (f.countingNoise !== null) return `${m} +- ${num(f.countingNoise, f.digits)} (counting)`;
  return `${m} (one run)`;
}

/** a against b: 'more' or 'less' when they differ by more than their noise together, else 'noise'; null without figures. */
export function compare(a: Figure, b: Figure): 'more' | 'less' | 'noise' | null {
  const ma = mean(a);
  const mb = mean(b);
  if (ma === null || mb === null) return null;
  if (Math.abs(ma - mb) <= noise(a) + noise(b)) return 'noise';
  return ma > mb ? 'more' : 'less';
}

/**
 * A finding's table, one row per group: each column's name once, with what it shows for a group
 * (a figure, or text). `label` names a row when the group's id is not the row's name.
 */
export function table(
  groups: Group[],
  cells: Record<string, (g: Group, i: number) => Figure | string>,
  label: (g: Group, i: number) => string = (g) => g.id,
): Pick<Finding, 'columns' | 'figures'> {
  const columns = Object.keys(cells);
  const figures = groups.map((g, i) => ({
    label: label(g, i),
    values: Object.fromEntries(
      Object.entries(cells).map(([name, cell]) => {
        const value = cell(g, i);
        return [name, typeof value === 'string' ? value : show(value)];
      }),
    ),
  }));
  return { columns, figures };
}

/** How the spreads of the figures were computed, for the table's caption. */
export function spreadCaption(groups: Group[]): string {
  const kind = (n: number): Spread['kind'] => (n >= 3 ? 'sd' : n === 2 ? 'half-range' : 'none');
  const n = Math.max(0, ...groups.map((g) => g.valid.length));
  const counting =
    n <= 1 ? '; with one run, +- is the counting noise (sqrt(n) events) where a figure counts events' : '';
  return `mean +- spread over ${n} run${n === 1 ? '' : 's'} per case (${spreadName(groups.map((g) => kind(g.valid.length)))})${counting}`;
}

// Figures of one case that several experiments use.

export function conflictsPerMinute(c: CaseResult): number | null {
  return c.measured_seconds > 0 ? (failedAttempts(c.totals) / c.measured_seconds) * 60 : null;
}

/** Conflicts: failed attempts (40001, 40P01, 55P03, retries included) per minute, with their counting noise. */
export function conflictsFigure(g: Group): Figure {
  return figure(g, conflictsPerMinute, 1, {
    events: (c) => failedAttempts(c.totals),
    perEvent: (c) => (c.measured_seconds > 0 ? 60 / c.measured_seconds : 0),
  });
}

/** A figure's mean as a chart draws it: two decimals, null (no bar) without one. */
export function chartValue(f: Figure): number | null {
  const m = mean(f);
  return m === null ? null : Math.round(m * 100) / 100;
}

/** The bar chart of conflicts per minute, one bar per group, that the conflict findings draw. */
export function conflictsChart(title: string, groups: Group[], conflicts: Figure[]): ChartSpec {
  return {
    title,
    kind: 'bar',
    x: groups.map((g) => g.id),
    series: [{ name: 'conflicts/min', values: conflicts.map(chartValue) }],
    unit: 'per minute',
  };
}

export function per1000Figure(g: Group): Figure {
  return figure(g, (c) => c.totals.derived.failures_per_1000_tx, 1, {
    events: (c) => failedAttempts(c.totals),
    perEvent: (c) => {
      const commits = c.totals.database.app.total.commits;
      return commits > 0 ? 1000 / commits : 0;
    },
  });
}

/** Answered and failed long polls per second in the window. */
export function pollsPerSecond(c: CaseResult): number | null {
  const polls = Object.values(c.totals.client.requests['bus.poll'] ?? {}).reduce((a, b) => a + b, 0);
  return c.measured_seconds > 0 ? polls / c.measured_seconds : null;
}

/** The most connections, at one sample of the window, of the connections whose application_name matches. */
export function peakConnections(c: CaseResult, name: RegExp): number {
  let peak = 0;
  for (const s of c.timeseries) {
    if (s.phase !== 'measure') continue;
    let n = 0;
    for (const [app, count] of Object.entries(s.db_connections_by_app)) if (name.test(app)) n += count;
    peak = Math.max(peak, n);
  }
  return peak;
}

/** The server setting a case ran with, from its exact configuration in run.json. */
export function setting(c: CaseResult | undefined, key: string): unknown {
  return c?.server_config[key];
}
