// The study's experiments by seed, in the order they run.
import type { Experiment } from './experiment.js';
import { SEED_000 } from './seed-000.js';
import { experiments as SEED_001 } from './seed-001.js';
import { experiments as SEED_002 } from './seed-002.js';
import { experiments as SEED_003 } from './seed-003.js';
import { experiments as SEED_004 } from './seed-004.js';

export const EXPERIMENTS: readonly Experiment[] = [...SEED_000, ...SEED_001, ...SEED_002, ...SEED_003, ...SEED_004];

/** The seeds that have experiments, in order. */
export const STUDY_SEEDS = [...new Set(EXPERIMENTS.map((e) => e.seed))] as const;
