// `busbench bench`: every case of the sweep (layout x load x presence x isolation x dispatch x
// transport x repeat) in turn, or the steps of `--find-max`, each through the Lab's lifecycle and
// one engine (the Node runner, k6, or real Chromium tabs); then results/<timestamp>/ and the
// comparison table.
import os from 'node:os';
import path from 'node:path';
import { errors } from '../lib/errors.js';
import type { Config } from '../lib/server-options.js';
import { browserProfile, runBrowserBench } from './browser-bench.js';
import { assertChromium } from './browser-tabs.js';
import { formatBrowser, formatComparison, formatSpread, formatTransports, TRANSACTION_COLUMNS } from './compare.js';
import { cpuSplit } from './cpu-split.js';
import { faultPlan, withFaultWindow } from './faults.js';
import { formatFindMax, type Measured, runFindMax, scheduleOf } from './find-max.js';
import { assertK6, K6_THRESHOLDS_FAILED, runK6Case } from './k6-engine.js';
import { Lab, type RunningCase } from './lifecycle.js';
import { runNodeCase } from './node-engine.js';
import type { BenchOptions } from './options.js';
import { Progress } from './progress.js';
import { formatFaults } from './report-faults.js';
import type { BrowserResult, CaseResult, FindMax, RunFile } from './results.js';
import { writeRunFiles } from './run-file.js';
import { type Case, caseConfig, caseProfile, casesOf, loadRecord, loadsOf, resolveProfile } from './sweep.js';
import { brokenThresholds, evaluateThresholds } from './thresholds.js';
import { invalidCases, markValidity, stabilityWarnings } from './validity.js';

export interface BenchResult {
  dir: string;
  run: RunFile;
  files: string[];
}

export async function runBench(options: BenchOptions, server: Config, command: string): Promise<BenchResult> {
  const faults = faultPlan(options);
  const profile = withFaultWindow(
    options.browser ? browserProfile(resolveProfile(options), options) : resolveProfile(options),
    faults,
  );
  const schedule = options.findMax ? scheduleOf(options, profile) : undefined;
  const loads = schedule ?? loadsOf(options, profile);
  if (options.browser && (options.profileUsers?.length ?? 1) * (options.tabs?.length ?? 1) > 1) {
    throw errors.config(
      '--users',
      'and --tabs take one value with --browser (its load is --browser-count and --browser-tabs)',
    );
  }
  // find-max starts with its first step's cases; the later steps' run on the same layouts.
  const cases = casesOf(options, profile, server, schedule ? loads.slice(0, 1) : loads);
  if (options.browser) assertChromium();
  else if (options.engine === 'k6') assertK6();
  const progress = new Progress();
  const startedAt = new Date();
  const dir = path.join(options.out, startedAt.toISOString().replace(/[:.]/g, '-'));
  const configs = cases.map((c) => caseConfig(server, profile, c));
  const split = options.generatorCpu === null ? undefined : cpuSplit(options.generatorCpu);
  const lab = await Lab.open(server, configs, progress, split);
  let results: CaseResult[] = [];
  let browser: BrowserResult[] = [];
  let failed: string[] = [];
  let findMax: FindMax | undefined;
  const unstable: string[] = [];
  /** Every case run: find-max's steps add theirs. */
  const ran: Case[] = [];
  /** k6 exit codes other than 0, by case: the run ends with the same code, as k6 would. */
  const k6Exits = new Map<string, number | null>();
  try {
    if (options.browser) {
      ({ results: browser, failed } = await runBrowserBench(lab, cases, configs, options));
    } else {
      const tabs = profile.users * profile.browsersPerUser * profile.tabsPerBrowser;
      const swept =
        loads.length > 1
          ? `; load ${schedule ? 'stepped up to' : 'swept'}: ${loads.map((l) => `users=${l.users} tabs=${l.tabsPerBrowser}`).join(', ')}`
          : '';
      progress.log(
        `[busbench] profile ${profile.name}: ${tabs} tabs (${profile.users} users x ${profile.browsersPerUser} browsers x ` +
          `${profile.tabsPerBrowser} tabs, ${profile.tabMode}), ${profile.rate} posts/s, ` +
          `${profile.warmup} s warm-up + ${profile.duration} s measured, ${cases.length} case(s)${swept}`,
      );
      const measureCases = (batch: Case[]): Promise<Measured> => {
        ran.push(...batch);
        return lab.runAll(
          batch.map((c) => {
            const slug = c.id.replace(/[^a-z0-9-]+/gi, '-');
            const testid = `${path.basename(dir)}-${slug}`;
            const own = caseProfile(profile, c);
            const finish = (result: CaseResult): CaseResult => {
              const marked = markValidity(result, own.users * own.browsersPerUser * own.tabsPerBrowser);
              const stability = stabilityWarnings(result.totals);
              unstable.push(...stability.map((w) => `${c.id}: ${w}`));
              return { ...marked, warnings: [...marked.warnings, ...stability], load: loadRecord(own, c.load) };
            };
            return {
              name: c.id,
              config: caseConfig(server, profile, c),
              measure: async (running: RunningCase) => {
                if (options.engine === 'node') {
                  return finish(
                    await runNodeCase(c, running, own, {
                      testid,
                      metricsPort: options.metricsPort,
                      host: server.host,
                      faults,
                    }),
                  );
                }
                const { result, exitCode } = await runK6Case(c, running, own, {
                  testid,
                  outDir: path.join(dir, 'k6', slug),
                  instances: options.k6Instances,
                });
                if (exitCode !== 0) k6Exits.set(c.id, exitCode);
                return finish(result);
              },
            };
          }),
        );
      };
      if (schedule && options.findMax) {
        ({ results, failed, findMax } = await runFindMax({
          expressions: options.findMax,
          schedule,
          casesAt: (load) => casesOf(options, profile, server, [load]),
          measure: measureCases,
          profile,
          progress,
        }));
      } else {
        ({ results, failed } = await measureCases(cases));
      }
    }
  } finally {
    await lab.close();
  }
  if (results.length === 0 && browser.length === 0) throw new Error(`every case failed:\n${failed.join('\n')}`);
  const thresholds = evaluateThresholds(
    options.thresholds ?? [],
    results.filter((c) => c.validity?.valid),
  );
  const k6Thresholds = [...k6Exits.values()].every((code) => code === K6_THRESHOLDS_FAILED);
  if (k6Exits.size > 0) {
    const which = [...k6Exits].map(([id, code]) => `${id} (exit ${code})`).join(', ');
    progress.log(`[busbench] k6 failed for ${which}${k6Thresholds ? ': thresholds broken, see the warnings' : ''}`);
  }
  const run: RunFile = {
    schema: 'busbench/run@1',
    engine: options.engine,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    command,
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model ?? 'unknown',
      memory_bytes: os.totalmem(),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
    },
    profile: { ...profile },
    sweep: {
      topology: options.layouts,
      presence: [...new Set(cases.map((c) => c.presence))],
      isolation: [...new Set(cases.map((c) => c.isolation))],
      dispatch: [...new Set(cases.map((c) => c.dispatch))],
      transport: [...new Set(cases.map((c) => c.transport))],
      ...(options.browser ? { mode: options.browserModes } : {}),
      ...(loads.length > 1 || schedule
        ? {
            users: [...new Set(ran.map((c) => String(c.load.users)))],
            tabs: [...new Set(ran.map((c) => String(c.load.tabsPerBrowser)))],
          }
        : {}),
    },
    cases: results,
    ...(options.browser ? { browser } : {}),
    ...(options.thresholds ? { thresholds } : {}),
    ...(findMax ? { find_max: findMax } : {}),
  };
  const files = await writeRunFiles(dir, run);
  process.stdout.write(`\n${options.browser ? formatBrowser(browser) : formatComparison(run)}\n`);
  if (!options.browser) process.stdout.write(`${TRANSACTION_COLUMNS}\n`);
  const transports = formatTransports(run);
  if (transports) process.stdout.write(`\nlong polling and websockets:\n${transports}`);
  // Computed once the case is done, so its own "done" line could not say it.
  if (unstable.length > 0) process.stdout.write(`\nnot stable:\n${unstable.join('\n')}\n`);
  const faultTable = formatFaults(run);
  if (faultTable) process.stdout.write(`\nfaults:\n${faultTable}\n`);
  const spread = formatSpread(run);
  if (spread) process.stdout.write(`\nacross ${options.repeat} repeats:\n${spread}\n`);
  if (findMax) process.stdout.write(`\n${formatFindMax(findMax)}`);
  const ending = runEnding({
    failed: failed.length,
    // An invalid case is one way a find-max step ends, not a failure of the run.
    invalid: findMax ? [] : invalidCases(run).map((c) => `${c.id}: ${c.reasons.join(', ')}`),
    k6Failed: k6Exits.size > 0 && !k6Thresholds,
    broken: [...brokenThresholds(thresholds), ...(k6Exits.size > 0 && k6Thresholds ? ['k6 thresholds'] : [])],
  });
  if (ending) {
    process.stderr.write(`busbench: ${ending.code}: ${ending.message}\n`);
    process.exitCode = ending.exitCode;
  } else if (failed.length > 0 || k6Exits.size > 0) {
    process.exitCode = 1;
  }
  return { dir, run, files };
}

/**
 * How the run ends, when not well: a case that failed to run, or a k6 that failed, is exit 1
 * (the caller's); then an invalid case (its numbers mean nothing, so limits on them are moot);
 * then a broken threshold, exit 99 as in k6.
 */
function runEnding(outcome: { failed: number; invalid: string[]; k6Failed: boolean; broken: string[] }) {
  if (outcome.failed > 0 || outcome.k6Failed) return undefined;
  if (outcome.invalid.length > 0) return errors.invalidCase(outcome.invalid);
  if (outcome.broken.length > 0) return errors.thresholds(outcome.broken);
  return undefined;
}
