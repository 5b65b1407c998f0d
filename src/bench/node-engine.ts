// `busbench bench --engine node` (the default): one case's load from the built-in runner, on
// the warm-up / measure / drain timeline. Browsers arrive over the first half of the warm-up;
// the totals cover the measured window, the delivery check every post of the case.
import { setTimeout as sleep } from 'node:timers/promises';
import { caseWarnings, derive } from '../../loadtests/lib/case-figures.js';
import { round } from '../../loadtests/lib/numbers.js';
import type { Profile } from '../../loadtests/lib/profiles.js';
import { FaultInjector, type FaultPlan } from './faults.js';
import { watchThisProcess } from './generator-load.js';
import type { RunningCase } from './lifecycle.js';
import { serveLoadMetrics } from './load-metrics.js';
import type { CaseResult, CaseTotals, GeneratorFigures } from './results.js';
import { type SimulatedLoad, withSimulatedLoad } from './simulated-load.js';
import type { Case } from './sweep.js';

export interface NodeEngineOptions {
  /** Tags the live metrics (Grafana's testid variable). */
  testid: string;
  /** 0: no live metrics; else the runner's figures for Prometheus on this port. */
  metricsPort: number;
  host: string;
  /** --faults: injected during the measured window. */
  faults?: FaultPlan | undefined;
}

export function runNodeCase(
  c: Case,
  running: RunningCase,
  profile: Profile,
  options: NodeEngineOptions,
): Promise<CaseResult> {
  return withSimulatedLoad(running, profile, { transport: c.transport }, async (load) => {
    const live = options.metricsPort
      ? await serveLoadMetrics(
          load.runner,
          { testid: options.testid, topology: c.topology, profile: profile.name },
          { host: options.host, port: options.metricsPort },
        )
      : undefined;
    const startedAt = new Date();
    const ticker = showProgress(running, load, profile, startedAt.getTime());
    const injector = options.faults
      ? new FaultInjector(options.faults, { topology: c.topology, ...running })
      : undefined;
    if (injector) load.runner.observe(injector.observer());
    try {
      const measure = injector
        ? (seconds: number) => injector.measure(seconds, (line) => running.progress.log(line))
        : (seconds: number) => sleep(seconds * 1000);
      const { measured, generator } = await timeline(load, profile, startedAt.getTime(), measure);
      const faults = await injector?.records((window) => load.runner.deliveriesDueIn(window));
      live?.finish(load.runner.deliveries().lost);
      const exitCode = await load.finish();
      const client = load.runner.totals();
      const serverSide = load.sampler.totals(measured);
      const totals: CaseTotals = { ...client, ...serverSide, derived: derive({ ...client, ...serverSide }, measured) };
      const result: CaseResult = {
        id: c.id,
        topology: c.topology,
        presence: c.presence,
        isolation: c.isolation,
        dispatch: c.dispatch,
        transport: c.transport,
        server_config: running.serverConfig(),
        started_at: startedAt.toISOString(),
        measured_seconds: round(measured),
        totals,
        timeseries: load.sampler.timeseries(),
        warnings: warnings(totals, exitCode, load.runner.openFailures),
        generator,
        ...(faults ? { faults } : {}),
      };
      const took = ((Date.now() - startedAt.getTime()) / 1000).toFixed(0);
      const said = result.warnings.length ? ` - ${result.warnings.join('; ')}` : '';
      running.progress.log(`[busbench] ${running.label}: done in ${took} s${queuedLine(client.client)}${said}`);
      return result;
    } finally {
      clearInterval(ticker);
      await live?.close();
    }
  });
}

/** Warm-up, measure, drain; resolves to the seconds actually measured and the runner's own load in them. */
async function timeline(
  load: SimulatedLoad,
  profile: Profile,
  caseStart: number,
  measure: (seconds: number) => Promise<unknown>,
): Promise<{ measured: number; generator: GeneratorFigures }> {
  await load.runner.start((profile.warmup * 1000) / 2, caseStart);
  const warmupLeft = caseStart + profile.warmup * 1000 - Date.now();
  if (warmupLeft > 0) await sleep(warmupLeft);
  await load.enter('measure');
  const measureStart = Date.now();
  const watch = watchThisProcess();
  await measure(profile.duration);
  const generator = watch.stop();
  const measured = (Date.now() - measureStart) / 1000;
  await load.enter('drain');
  await load.runner.drain(profile.drain * 1000);
  return { measured, generator };
}

function showProgress(running: RunningCase, load: SimulatedLoad, profile: Profile, caseStart: number) {
  const total = profile.warmup + profile.duration;
  return setInterval(() => {
    running.progress.update({
      label: running.label,
      phase: load.runner.phase,
      elapsed: (Date.now() - caseStart) / 1000,
      total,
      tabs: load.runner.tabs,
      ...load.sampler.progress(),
    });
  }, 1000);
}

/** How long requests and posts waited for a browser connection, when any had to. */
function queuedLine(c: CaseTotals['client']): string {
  const q = c.queued_ms;
  const p = c.post_queued_ms;
  if (!q || q.p99 === null || q.p99 < 1) return '';
  const ms = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)}`);
  const posts = p && p.count > 0 ? `; posts p50 ${ms(p.p50)} / p99 ${ms(p.p99)} ms` : '';
  return `; queued for a connection: p50 ${ms(q.p50)} / p99 ${ms(q.p99)} ms${posts}`;
}

/** The case's warnings plus what only the Node engine sees: failed logins, a bad exit. */
function warnings(
  t: CaseTotals,
  exitCode: number | null,
  openFailures: { count: number; first: string | undefined },
): string[] {
  const out: string[] = [];
  if (openFailures.count > 0) {
    out.push(`${openFailures.count} browsers could not log in or list their channels (first: ${openFailures.first})`);
  }
  out.push(...caseWarnings(t));
  if (exitCode !== 0) out.push(`the layout exited with code ${exitCode} when stopped`);
  return out;
}
