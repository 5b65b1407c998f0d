// The study's experiments by seed, in the order they run.
import type { Experiment } from './experiment.js';
import { SEED_000 } from './seed-000.js';

export const EXPERIMENTS: readonly Experiment[] = [...SEED_000];

/** The seeds that have experiments, in order. */
export const STUDY_SEEDS = [...new Set(EXPERIMENTS.map((e) => e.seed))] as const;
