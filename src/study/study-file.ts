// study.json's shape: what a study ran and what it found, from which FINDINGS.md and
// findings.html are rendered.
import type { BenchFlags } from './bench-run.js';
import type { Finding } from './experiment.js';

export interface StudyRunRecord {
  label: string;
  flags: BenchFlags;
  command: string;
  folder: string;
  exit_code: number | null;
  seconds: number;
}

/** study.json: what was run and what it found. */
export interface StudyFile {
  schema: 'busbench/study@1';
  command: string;
  started_at: string;
  finished_at: string;
  quick: boolean;
  repeat: number;
  seeds: string[];
  machine: { cpus: number; cpu_model: string; load_average: number[] };
  runs: StudyRunRecord[];
  /** Seconds each experiment took, a bench another one ran before counted where it ran. */
  timings: { seed: string; id: string; seconds: number }[];
  findings: Finding[];
}
