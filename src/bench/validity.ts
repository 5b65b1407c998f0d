// Whether a case measured anything, checked before it is compared: a case that did no work,
// or whose load generator was saturated, has no rate (null, "n/a", never 0), and the verdict,
// the tables and the report name it and leave it out. Also the warning for rates that rest on
// too few events to be stable.
import type { CaseResult, CaseTotals, RunFile, Validity } from './results.js';

/** k6's guidance for the machine that generates the load: keep it under 80 % CPU. */
export const GENERATOR_CPU_LIMIT = 0.8;
/**
 * The runner's event-loop delay (p99) beyond which its timestamps, not the layout, make the
 * latencies. A quarter of a second: on a shared 2-core machine a lightly loaded runner already
 * sees p99 around 100 ms of scheduling delay, which the layouts see too.
 */
export const GENERATOR_LAG_LIMIT_MS = 250;
/**
 * When the post schedule was not kept: over a quarter of the posts sent more than
 * LATE_TOLERANCE_MS (50 ms) after their due time, or any post a second late (a stall as long as
 * several inter-arrival times). Less is a warning only: latencies count from the due time, and
 * posts a few hundred ms late still arrive in the window, so the offered rate holds. On a
 * shared 2-core machine the runner's timers fire 100-200 ms late at p99 while it uses 5-10 %
 * of a core, which makes 5-25 % of the posts "late" without the generator being saturated.
 */
export const LATE_POSTS_LIMIT = 0.25;
export const LATE_POST_MAX_MS = 1000;
/**
 * Fewer commits than this in the window, or fewer failed attempts than STABLE_FAILURES, and
 * failures/1k moves from run to run by more than the +-15 % a comparison needs: a count of n
 * independent events varies by about sqrt(n), 14 % at 50.
 */
export const STABLE_COMMITS = 1000;
export const STABLE_FAILURES = 50;
/**
 * Fewer posts than this in the window and the post latency's p50 and p99 are those of a
 * handful of posts, and every delivery latency is a copy of one of theirs (each post reaches
 * every tab of its channel at about the same time). A seeded Poisson draw can leave a short
 * window far below its expected count: 1 post in seed-000's 6 s quick window at 1/s.
 */
export const STABLE_POSTS = 10;

/** Tabs the profile asks for, from run.json's profile; null when it does not say. */
export function expectedTabs(profile: RunFile['profile']): number | null {
  const { users, browsersPerUser, tabsPerBrowser } = profile;
  return [users, browsersPerUser, tabsPerBrowser].every((n) => typeof n === 'number')
    ? (users as number) * (browsersPerUser as number) * (tabsPerBrowser as number)
    : null;
}

export function failedAttempts(t: CaseTotals): number {
  const app = t.database.app.total;
  return app.serialization_failures + app.deadlocks + app.lock_not_available;
}

/** Every reason the case is not a measurement of its layout; none: it is valid. */
export function assessCase(c: Pick<CaseResult, 'totals' | 'generator'>, tabsExpected: number | null): Validity {
  const reasons: string[] = [];
  const { client, delivery, database } = c.totals;
  if (client.tabs === 0) reasons.push('no tab got in');
  else if (tabsExpected !== null && client.tabs < tabsExpected) {
    reasons.push(`only ${client.tabs} of ${tabsExpected} tabs got in`);
  }
  // `posts` counts the posts that succeeded; `posts_failed` the rest, unanswered ones included.
  if (delivery.posts === 0 && delivery.posts_failed === 0) reasons.push('no post was sent');
  else if (delivery.posts === 0) reasons.push(`none of ${delivery.posts_failed} posts succeeded`);
  else if (delivery.expected > 0 && delivery.delivered === 0) {
    reasons.push(`none of ${delivery.expected} expected deliveries arrived`);
  }
  if (database.app.total.commits === 0) reasons.push('no transaction committed in the measured window');
  const { late_posts: late, max_lag_ms: maxLag } = client.behind_schedule;
  if (delivery.posts > 0 && late > delivery.posts * LATE_POSTS_LIMIT) {
    reasons.push(
      `the generator fell behind: ${late} of ${delivery.posts} posts sent late (over ${LATE_POSTS_LIMIT * 100} %)`,
    );
  } else if (maxLag > LATE_POST_MAX_MS) {
    reasons.push(`the generator stalled: a post was sent ${maxLag} ms late (limit ${LATE_POST_MAX_MS} ms)`);
  }
  const g = c.generator;
  if (g?.cpu_percent != null && g.cpu_percent > GENERATOR_CPU_LIMIT * 100 * g.cores) {
    const of = g.cores === 1 ? 'one core' : `${g.cores} cores`;
    reasons.push(
      `the generator was saturated: ${g.process} at ${g.cpu_percent} % CPU (limit ${GENERATOR_CPU_LIMIT * 100} % of ${of})`,
    );
  }
  if (g?.event_loop_lag_p99_ms != null && g.event_loop_lag_p99_ms > GENERATOR_LAG_LIMIT_MS) {
    reasons.push(
      `the generator's event loop lagged: p99 ${g.event_loop_lag_p99_ms} ms (limit ${GENERATOR_LAG_LIMIT_MS} ms)`,
    );
  }
  return { valid: reasons.length === 0, reasons };
}

/** The case's validity as run.json says, or as assessed now for a run written before the check existed. */
export function validityOf(c: CaseResult, run: Pick<RunFile, 'profile'>): Validity {
  return c.validity ?? assessCase(c, expectedTabs(run.profile));
}

export function isValid(c: CaseResult, run: Pick<RunFile, 'profile'>): boolean {
  return validityOf(c, run).valid;
}

/** The run with only its valid cases: what the verdict, the tables and the charts compare. */
export function validOnly(run: RunFile): RunFile {
  return { ...run, cases: run.cases.filter((c) => isValid(c, run)) };
}

/** "id (reason; reason)" for each invalid case. */
export function invalidCases(run: RunFile): { id: string; reasons: string[] }[] {
  return run.cases.flatMap((c) => {
    const v = validityOf(c, run);
    return v.valid ? [] : [{ id: c.id, reasons: v.reasons }];
  });
}

/** The case marked with its validity; an invalid case's rates become null, as it has none. */
export function markValidity(c: CaseResult, tabsExpected: number | null): CaseResult {
  const validity = assessCase(c, tabsExpected);
  if (validity.valid) return { ...c, validity };
  const derived = Object.fromEntries(Object.keys(c.totals.derived).map((k) => [k, null])) as {
    [K in keyof CaseTotals['derived']]: null;
  };
  return { ...c, validity, totals: { ...c.totals, derived } };
}

/** Warnings for a rate or a latency that rests on too few events to hold from one run to the next. */
export function stabilityWarnings(t: CaseTotals): string[] {
  const commits = t.database.app.total.commits;
  if (commits === 0) return [];
  const failed = failedAttempts(t);
  const out: string[] = [];
  if (commits < STABLE_COMMITS) {
    out.push(
      `only ${commits} commits in the window (under ${STABLE_COMMITS.toLocaleString('en-US')}): failures/1k tx is not a stable rate; measure longer (--duration)`,
    );
  }
  if (failed < STABLE_FAILURES) {
    const noise = failed > 0 ? `about +-${Math.round(100 / Math.sqrt(failed))} %` : 'more than the rate itself';
    out.push(
      `failures/1k tx rests on ${failed} failed attempts (under ${STABLE_FAILURES}): it varies by ${noise} from run to run`,
    );
  }
  const posts = t.delivery.posts + t.delivery.posts_failed;
  if (posts > 0 && posts < STABLE_POSTS) {
    out.push(
      `only ${posts} post${posts === 1 ? '' : 's'} in the window (under ${STABLE_POSTS}): the post and delivery latencies rest on ${posts === 1 ? 'it' : 'them'} alone; measure longer (--duration)`,
    );
  }
  return out;
}
