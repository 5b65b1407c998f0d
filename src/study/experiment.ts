// One experiment of `busbench study`: a seed document's claim, the bench runs that measure it,
// and the finding those runs support. Each seed's experiments live in src/study/seed-NNN.ts;
// the study runs them in order and writes every finding into FINDINGS.md and findings.html.
import type { RunFile } from '../bench/results.js';

/** What the study hands an experiment: how big to run, and a way to run the bench. */
export interface StudyContext {
  readonly quick: boolean;
  readonly repeat: number;
  /**
   * The study's one PostgreSQL (an admin URL): experiments that measure a layout themselves put
   * their fresh databases on it too, instead of starting a server (initdb and all) of their own.
   */
  readonly databaseUrl: string;
  /** Runs `busbench bench` with these flags (kebab-case names, as on the command line) on fresh databases. */
  bench(label: string, flags: Record<string, string | number | boolean>): Promise<{ folder: string; run: RunFile }>;
  /** One progress line (the study prefixes the experiment). */
  progress(line: string): void;
  /**
   * A fresh folder under the study folder for a measurement the experiment makes itself (not
   * through the bench): `dir` to write into, `name` (relative to the study folder) for `runs` and `cases`.
   */
  folder(slug: string): Promise<{ dir: string; name: string }>;
  /** `make()` once per study under `key`: two experiments that need the same measurement share it. */
  shared<T>(key: string, make: () => Promise<T>): Promise<T>;
}

export type Verdict = 'reproduced' | 'not reproduced' | 'reproduced with a different size' | 'no verdict';

/** One row of a finding's figures: a label and its values as mean +- spread text, by column. */
export interface FigureRow {
  label: string;
  values: Record<string, string>;
}

/** A bar or line chart, drawn by the study in the report's style. */
export interface ChartSpec {
  title: string;
  kind: 'bar' | 'line';
  /** Category (x) labels. */
  x: string[];
  series: { name: string; values: (number | null)[] }[];
  unit: string;
}

/** A case a finding's figures rest on: its run folder (relative to the study folder) and case id. */
export interface CaseRef {
  run: string;
  id: string;
  valid: boolean;
}

export interface Finding {
  seed: string;
  id: string;
  /** A short heading; the id when absent. */
  title?: string;
  /** The verdict in one line, with the figure that carries it (the summary table's row). */
  summary?: string;
  /** Every case the figures and the verdict rest on, so a reader (and the test) can check each was valid. */
  cases?: CaseRef[];
  /** Quoted from the seed. */
  claim: string;
  /** Where the claim comes from when it is not the seed's own words (then `claim` is a summary, not a quote). */
  claimFrom?: string;
  /** The seed's file name, under ../shared/seeds/. */
  source: string;
  /** Enough to rerun it by hand: layouts, profile, presence, isolation, flags. */
  setup: string;
  columns: string[];
  figures: FigureRow[];
  chart: ChartSpec;
  verdict: Verdict;
  /** The mechanism, shown by a measured figure (not asserted). */
  mechanism: string;
  /**
   * Why no verdict: the invalid cases and their reasons, an experiment that failed, or runs too
   * few to weigh the claim (seed 002's couple of percents). Empty when none of these stood in the way.
   */
  invalid: string[];
  /** Run folders (relative to the study folder) the figures come from. */
  runs: string[];
}

export interface Experiment {
  seed: string;
  id: string;
  claim: string;
  source: string;
  title?: string;
  claimFrom?: string;
  run(ctx: StudyContext): Promise<Finding>;
}

/** The part of a finding that restates its experiment: which claim, from where. */
export function findingHead(e: Experiment): Pick<Finding, 'seed' | 'id' | 'title' | 'claim' | 'source' | 'claimFrom'> {
  return {
    seed: e.seed,
    id: e.id,
    ...(e.title ? { title: e.title } : {}),
    claim: e.claim,
    ...(e.claimFrom ? { claimFrom: e.claimFrom } : {}),
    source: e.source,
  };
}
