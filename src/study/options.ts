// `busbench study`'s own settings. The bench runs it starts take their flags from the
// experiments (src/study/seed-NNN.ts), never from these or from the environment.
import { flag, integer, listOf, option, text, type Values } from '../lib/options.js';
import { STUDY_SEEDS } from './experiments.js';

export const STUDY_OPTIONS = {
  seeds: option({
    env: 'BUSBENCH_STUDY_SEEDS',
    flag: '--seed <list>',
    doc: `comma-separated seeds (../shared/seeds/NNN_*.txt) whose experiments to run, in this order: ${STUDY_SEEDS.join(', ')}`,
    default: [...STUDY_SEEDS] as string[],
    parse: listOf(STUDY_SEEDS),
  }),
  quick: option({
    env: 'BUSBENCH_STUDY_QUICK',
    flag: '--quick',
    doc: 'shorter measured windows and one run per case, for a first look or CI (README, The study, gives the time each took)',
    default: false,
    parse: flag,
  }),
  repeat: option({
    env: 'BUSBENCH_STUDY_REPEAT',
    flag: '--repeat <n>',
    doc: 'runs of every case; figures are mean +- spread over them (null: 2, or 1 with --quick, where counting noise stands in for the spread)',
    default: null as number | null,
    parse: integer(1),
  }),
  out: option({
    env: 'BUSBENCH_RESULTS',
    flag: '--out <dir>',
    doc: 'where the study-<timestamp>/ folder is written',
    default: 'results',
    parse: text,
  }),
};

export type StudyOptions = Values<typeof STUDY_OPTIONS>;

/** Runs per case when --repeat is not given. */
export function repeatsOf(options: Pick<StudyOptions, 'quick' | 'repeat'>): number {
  return options.repeat ?? (options.quick ? 1 : 2);
}
