// The simulated load on a running case, shared by the node engine and `busbench capacity`:
// the runner's browsers and the sampler's once-a-second reads, switched through the phases
// together, and taken down in the order that lets every tab loop end.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Profile } from '../../loadtests/lib/profiles.js';
import type { RunningCase } from './lifecycle.js';
import { type Phase, Runner, type RunnerTarget } from './runner.js';
import { Sampler } from './sampler.js';

/** A tab loop whose layout is gone fails at once; one that does not end by then is left behind. */
const LOOPS_GRACE_MS = 5000;

export interface SimulatedLoad {
  runner: Runner;
  sampler: Sampler;
  /** Runner and sampler enter `phase` together, so client and server totals cover one window. */
  enter(phase: Phase): Promise<void>;
  /**
   * Ends the load: the sampler stops, the tab loops are told to end, the layout stops (which
   * answers the parked polls) and the loops finish. Resolves to the layout's exit code.
   */
  finish(): Promise<number | null>;
}

export async function withSimulatedLoad<T>(
  c: RunningCase,
  profile: Profile,
  how: Omit<RunnerTarget, 'appUrl' | 'busUrl' | 'runTag'>,
  work: (load: SimulatedLoad) => Promise<T>,
): Promise<T> {
  const runner = new Runner(profile, {
    appUrl: c.layout.url,
    busUrl: c.layout.busUrl,
    runTag: randomBytes(4).toString('hex'),
    ...how,
  });
  const sampler = new Sampler(runner, `${c.layout.url}/metrics`, c.databaseUrl);
  let finishing: Promise<number | null> | undefined;
  const finish = () =>
    (finishing ??= (async () => {
      await sampler.stop();
      const loops = runner.stop();
      const exitCode = await c.layout.stop();
      // Unref'd: once the loops are done, the timer must not hold the process for its 5 s.
      await Promise.race([loops, sleep(LOOPS_GRACE_MS, undefined, { ref: false })]);
      return exitCode;
    })());
  try {
    await sampler.start();
    return await work({
      runner,
      sampler,
      async enter(phase) {
        runner.setPhase(phase);
        await sampler.setPhase(phase);
      },
      finish,
    });
  } finally {
    await finish();
    await Promise.all([runner.close(), sampler.stop()]);
  }
}
