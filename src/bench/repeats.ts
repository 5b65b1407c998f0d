// `--repeat N`: the runs of one case side by side as mean +- spread, and whether two cases
// differ by more than that spread (hyperfine's and criterion's "indistinguishable"). The
// spread is the sample standard deviation with three runs or more, half the range with two.
import type { CaseResult } from './results.js';

export interface Spread {
  values: number[];
  mean: number;
  /** Standard deviation (n >= 3) or half the range (n = 2); null with one value, which has no spread. */
  spread: number | null;
  kind: 'sd' | 'half-range' | 'none';
}

/** The id a case shares with its repeats: "cluster-fork #2" -> "cluster-fork". */
export function repeatGroupId(id: string): string {
  return id.replace(/ #\d+$/, '');
}

/**
 * The id a case shares with the same case at every load and repeat, one line of the report's
 * load charts: "cluster-fork users=40 presence=upsert #2" -> "cluster-fork presence=upsert".
 */
export function loadLineId(id: string): string {
  return repeatGroupId(id).replace(/ (?:users|tabs)=\d+/g, '');
}

/** The load named in a case id, "users=40 tabs=3" (empty when the run did not vary it). */
export function loadPart(id: string): string {
  return (repeatGroupId(id).match(/(?:users|tabs)=\d+/g) ?? []).join(' ');
}

/** Cases grouped with their repeats, in the order of their first run. */
export function groupRepeats(cases: CaseResult[]): { id: string; cases: CaseResult[] }[] {
  const groups = new Map<string, CaseResult[]>();
  for (const c of cases) {
    const id = repeatGroupId(c.id);
    groups.set(id, [...(groups.get(id) ?? []), c]);
  }
  return [...groups].map(([id, grouped]) => ({ id, cases: grouped }));
}

/** Mean and spread of the non-null values; null when there is none. */
export function spreadOf(raw: (number | null)[]): Spread | null {
  const values = raw.filter((v): v is number => v !== null);
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { values, mean, spread: null, kind: 'none' };
  if (n === 2) return { values, mean, spread: Math.abs((values[0] ?? 0) - (values[1] ?? 0)) / 2, kind: 'half-range' };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { values, mean, spread: Math.sqrt(variance), kind: 'sd' };
}

/** The spread as a share of the mean; 0 for an exact figure, null when it cannot be said. */
export function relativeSpread(s: Spread): number | null {
  if (s.spread === null) return null;
  if (s.spread === 0) return 0;
  return s.mean === 0 ? null : s.spread / Math.abs(s.mean);
}

/**
 * Two figures are indistinguishable when their difference is no larger than their spreads
 * together (the mean +- spread intervals overlap). Without a spread nothing can be said:
 * null.
 */
export function indistinguishable(a: Spread, b: Spread): boolean | null {
  if (a.spread === null || b.spread === null) return null;
  return Math.abs(a.mean - b.mean) <= a.spread + b.spread;
}

/** How the spread was computed, for the reader. */
export function spreadName(kinds: Spread['kind'][]): string {
  if (kinds.includes('sd') && kinds.includes('half-range'))
    return 'sample standard deviation (half the range where two runs)';
  if (kinds.includes('sd')) return 'sample standard deviation';
  if (kinds.includes('half-range')) return 'half the range of two runs';
  return 'none (one run each)';
}
