// `busbench bench`: every case (layout x presence x isolation x dispatch) in turn, each on a
// fresh database: start the layout as a child process, ramp the simulated browsers up during
// the warm-up, measure, drain, stop; then write results/<timestamp>/ and print the table.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { caseWarnings, derive } from '../../loadtests/lib/case-figures.js';
import { round } from '../../loadtests/lib/numbers.js';
import { PROFILES, type Profile, QUICK } from '../../loadtests/lib/profiles.js';
import {
  createDatabase,
  dropDatabase,
  existingServer,
  type PostgresServer,
  redact,
  startEmbeddedPostgres,
} from '../lib/postgres.js';
import {
  type Config,
  type DispatchMode,
  type IsolationLevel,
  OPTIONS,
  type PresenceStrategy,
  type TopologyName,
} from '../lib/server-options.js';
import { topologies } from '../topologies/index.js';
import { type LayoutProcess, spawnLayout } from '../topologies/layout-process.js';
import { assertChromium, browserProfile, runBrowserBench } from './browser-bench.js';
import { formatBrowser, formatComparison, formatSpread } from './compare.js';
import { assertK6, runK6Load } from './k6-engine.js';
import { serveLoadMetrics } from './load-metrics.js';
import type { BenchOptions } from './options.js';
import { Progress } from './progress.js';
import type { BrowserResult, CaseResult, CaseTotals, RunFile } from './results.js';
import { writeRunFiles } from './run-file.js';
import { Runner } from './runner.js';
import { Sampler } from './sampler.js';

interface Case {
  id: string;
  topology: TopologyName;
  presence: PresenceStrategy;
  isolation: IsolationLevel;
  dispatch: DispatchMode;
}

/** The profile with the flags applied. */
export function resolveProfile(options: BenchOptions): Profile {
  const base = PROFILES[options.profile];
  if (!base) throw new Error(`unknown profile ${options.profile}`);
  const pick = <T>(flag: T | null, fallback: T): T => (flag === null ? fallback : flag);
  return {
    ...base,
    users: pick(options.profileUsers, base.users),
    browsersPerUser: pick(options.browsers, base.browsersPerUser),
    tabsPerBrowser: pick(options.tabs, base.tabsPerBrowser),
    tabMode: pick(options.tabMode, base.tabMode),
    connectionsPerOrigin: pick(options.connections, base.connectionsPerOrigin),
    hiddenFraction: pick(options.hidden, base.hiddenFraction),
    warmup: pick(options.warmup, options.quick ? QUICK.warmup : base.warmup),
    duration: pick(options.duration, options.quick ? QUICK.duration : base.duration),
    drain: options.quick ? QUICK.drain : base.drain,
    rate: pick(options.rate, base.rate),
    pollTimeout: pick(options.benchPollTimeout, base.pollTimeout),
  };
}

/** The cross product of the sweep, named by what varies. */
export function casesOf(options: BenchOptions, profile: Profile, server: Config): Case[] {
  const sweep = {
    presence: options.presences ?? [profile.presence as PresenceStrategy],
    isolation: options.isolations ?? [profile.isolation as IsolationLevel],
    dispatch: options.dispatches ?? [server.dispatch],
  };
  const cases: Case[] = [];
  for (const topology of options.layouts)
    for (const presence of sweep.presence)
      for (const isolation of sweep.isolation)
        for (const dispatch of sweep.dispatch)
          for (let r = 1; r <= options.repeat; r++) {
            const parts: string[] = [topology];
            if (sweep.presence.length > 1) parts.push(`presence=${presence}`);
            if (sweep.isolation.length > 1) parts.push(`isolation=${isolation}`);
            if (sweep.dispatch.length > 1) parts.push(`dispatch=${dispatch}`);
            if (options.repeat > 1) parts.push(`#${r}`);
            cases.push({ id: parts.join(' '), topology, presence, isolation, dispatch });
          }
  return cases;
}

/** The exact server configuration of one case, and the `busbench serve` flags that produce it. */
function caseConfig(server: Config, profile: Profile, c: Case): { config: Config; flags: string[] } {
  const config: Config = {
    ...server,
    topology: c.topology,
    port: 0,
    busPort: 0,
    presence: c.presence,
    isolation: c.isolation,
    dispatch: c.dispatch,
    users: profile.users,
    channels: profile.channels,
    channelsPerUser: profile.channelsPerUser,
    pollTimeout: profile.pollTimeout,
  };
  const flags: string[] = [];
  for (const [key, o] of Object.entries(OPTIONS)) {
    if (key === 'topology' || key === 'databaseUrl' || key === 'dataDir') continue;
    flags.push(o.flag.split(' ')[0] ?? '', String(config[key as keyof Config]));
  }
  return { config, flags };
}

export interface BenchResult {
  dir: string;
  run: RunFile;
  files: string[];
}

export async function runBench(options: BenchOptions, server: Config, command: string): Promise<BenchResult> {
  const profile = options.browser ? browserProfile(resolveProfile(options), options) : resolveProfile(options);
  const cases = casesOf(options, profile, server);
  if (options.browser) assertChromium();
  else if (options.engine === 'k6') assertK6();
  const progress = new Progress();
  const startedAt = new Date();
  const dir = path.join(options.out, startedAt.toISOString().replace(/[:.]/g, '-'));
  const budgets = cases.map((c) => topologies[c.topology].budget(caseConfig(server, profile, c).config).total);
  // Room for the largest layout plus the sampler, the admin connection and psql.
  const maxConnections = Math.max(100, ...budgets.map((b) => b + 20));
  const database: PostgresServer = server.databaseUrl
    ? existingServer(server.databaseUrl)
    : await startEmbeddedPostgres({ dataDir: server.dataDir, maxConnections, log: (l) => progress.log(l) });
  const results: CaseResult[] = [];
  const browser: BrowserResult[] = [];
  if (!options.browser) {
    const tabs = profile.users * profile.browsersPerUser * profile.tabsPerBrowser;
    progress.log(
      `[busbench] profile ${profile.name}: ${tabs} tabs (${profile.users} users x ${profile.browsersPerUser} browsers x ` +
        `${profile.tabsPerBrowser} tabs, ${profile.tabMode}), ${profile.rate} posts/s, ` +
        `${profile.warmup} s warm-up + ${profile.duration} s measured, ${cases.length} case(s)`,
    );
  }
  const current: { layout?: LayoutProcess } = {};
  // Ctrl-C or SIGTERM: no layout process or embedded PostgreSQL may outlive the bench.
  const interrupt = (signal: string) => {
    progress.log(`[busbench] ${signal}: stopping the layout and PostgreSQL`);
    void Promise.allSettled([current.layout?.stop()])
      .then(() => database.stop())
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const failed: string[] = [];
  try {
    if (options.browser) {
      const measured = await runBrowserBench(
        cases.map((c) => ({ id: c.id, topology: c.topology, ...caseConfig(server, profile, c) })),
        options,
        { database, progress, current },
      );
      browser.push(...measured.results);
      failed.push(...measured.failed);
    } else {
      for (const [i, c] of cases.entries()) {
        try {
          const ctx = {
            profile,
            server,
            database,
            progress,
            current,
            engine: options.engine,
            dir,
            metricsPort: options.metricsPort,
          };
          results.push(await runCase(c, `${i + 1}/${cases.length}`, ctx));
        } catch (err) {
          // One broken case must not throw away the others: report it and go on.
          failed.push(`${c.id}: ${(err as Error).message}`);
          progress.log(`[busbench] [${i + 1}/${cases.length}] ${c.id}: FAILED: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', interrupt);
    process.removeListener('SIGTERM', interrupt);
    await database.stop();
  }
  if (results.length === 0 && browser.length === 0) throw new Error(`every case failed:\n${failed.join('\n')}`);
  if (failed.length > 0) process.exitCode = 1;
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
      ...(options.browser ? { mode: options.browserModes } : {}),
    },
    cases: results,
    ...(options.browser ? { browser } : {}),
  };
  const files = await writeRunFiles(dir, run);
  process.stdout.write(`\n${options.browser ? formatBrowser(browser) : formatComparison(run)}\n`);
  const spread = formatSpread(run);
  if (spread) process.stdout.write(`spread across ${options.repeat} repeats:\n${spread}\n`);
  return { dir, run, files };
}

async function runCase(
  c: Case,
  counter: string,
  ctx: {
    profile: Profile;
    server: Config;
    database: PostgresServer;
    progress: Progress;
    current: { layout?: LayoutProcess };
    engine: 'node' | 'k6';
    /** The run's results folder (k6 writes each case's files below it). */
    dir: string;
    metricsPort: number;
  },
): Promise<CaseResult> {
  const { profile, progress, database } = ctx;
  const { config, flags } = caseConfig(ctx.server, profile, c);
  const dbName = `bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = await createDatabase(database.adminUrl, dbName);
  const label = `[${counter}] ${c.id}`;
  progress.log(`[busbench] ${label}: starting (${topologies[c.topology].budget(config).summary})`);
  const layout = await spawnLayout(c.topology, databaseUrl, flags).catch(async (err: Error) => {
    await dropDatabase(database.adminUrl, dbName).catch(() => {});
    throw err;
  });
  ctx.current.layout = layout;
  const serverConfig = { ...config, databaseUrl: redact(databaseUrl) };
  const slug = c.id.replace(/[^a-z0-9-]+/gi, '-');
  const testid = `${path.basename(ctx.dir)}-${slug}`;
  if (ctx.engine === 'k6') {
    try {
      const { result } = await runK6Load({
        profile,
        layout,
        databaseUrl,
        topology: c.topology,
        caseId: c.id,
        testid,
        outDir: path.join(ctx.dir, 'k6', slug),
        progress,
      });
      return {
        ...result,
        presence: c.presence,
        isolation: c.isolation,
        dispatch: c.dispatch,
        server_config: serverConfig,
      };
    } finally {
      await layout.stop();
      ctx.current.layout = undefined;
      await dropDatabase(database.adminUrl, dbName).catch(() => {});
    }
  }
  const runner = new Runner(profile, {
    appUrl: layout.url,
    busUrl: layout.busUrl,
    runTag: randomBytes(4).toString('hex'),
  });
  const sampler = new Sampler(runner, `${layout.url}/metrics`, databaseUrl);
  const live = ctx.metricsPort
    ? await serveLoadMetrics(
        runner,
        { testid, topology: c.topology, profile: profile.name },
        { host: ctx.server.host, port: ctx.metricsPort },
      )
    : undefined;
  const startedAt = new Date();
  const caseStart = Date.now();
  const total = profile.warmup + profile.duration;
  const ticker = setInterval(() => {
    progress.update({
      label,
      phase: runner.phase,
      elapsed: (Date.now() - caseStart) / 1000,
      total,
      tabs: runner.tabs,
      ...sampler.progress(),
    });
  }, 1000);
  try {
    await sampler.start();
    await runner.start((profile.warmup * 1000) / 2);
    const warmupLeft = caseStart + profile.warmup * 1000 - Date.now();
    if (warmupLeft > 0) await sleep(warmupLeft);
    runner.setPhase('measure');
    await sampler.setPhase('measure');
    const measureStart = Date.now();
    await sleep(profile.duration * 1000);
    const measured = (Date.now() - measureStart) / 1000;
    runner.setPhase('drain');
    await sampler.setPhase('drain');
    await runner.drain(profile.drain * 1000);
    live?.finish(runner.deliveries().lost);
    await sampler.stop();
    // No new requests from here; shutdown answers the parked polls (empty) and the loops end.
    void runner.stop();
    const exitCode = await layout.stop();
    const client = runner.totals();
    const serverSide = sampler.totals(measured);
    const totals: CaseTotals = {
      ...client,
      ...serverSide,
      derived: derive({ ...client, ...serverSide }, measured),
    };
    const result: CaseResult = {
      id: c.id,
      topology: c.topology,
      presence: c.presence,
      isolation: c.isolation,
      dispatch: c.dispatch,
      server_config: serverConfig,
      started_at: startedAt.toISOString(),
      measured_seconds: round(measured),
      totals,
      timeseries: sampler.timeseries(),
      warnings: warnings(totals, exitCode, runner.openFailures),
    };
    const took = ((Date.now() - caseStart) / 1000).toFixed(0);
    progress.log(
      `[busbench] ${label}: done in ${took} s${result.warnings.length ? ` - ${result.warnings.join('; ')}` : ''}`,
    );
    return result;
  } finally {
    clearInterval(ticker);
    const loops = runner.stop();
    await layout.stop();
    ctx.current.layout = undefined;
    // Once the layout is gone every request fails at once, so the tab loops end quickly.
    await Promise.race([loops, sleep(5000)]);
    await Promise.all([runner.close(), sampler.stop(), live?.close()]);
    await dropDatabase(database.adminUrl, dbName).catch(() => {});
  }
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
