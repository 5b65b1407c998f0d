#!/usr/bin/env zx
// Runs each process layout in turn under docker compose with one k6 profile, then merges the
// per-layout k6 results into one busbench run and renders its report. `--help` for the options.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { $, argv, quote } from 'zx';
import { PROFILE_NAMES } from '../loadtests/lib/profiles.js';

const LAYOUTS = ['single-process', 'worker-threads', 'cluster-fork', 'dedicated-longpoll'];
const FLAGS = ['layouts', 'profile', 'duration', 'dry-run', 'help'];
const GRAFANA = 'http://127.0.0.1:3000';
const USAGE = `usage: node scripts/compose-bench.mjs [options]

Brings up each layout with docker compose (postgres, the layout behind nginx, db-exporter,
Prometheus, Grafana), runs one k6 profile against it, stops it, and merges the k6 results into
results/compose-<timestamp>/run.json and report.html.

  --layouts a,b    layouts to run, in this order (default: ${LAYOUTS.join(',')})
  --profile name   k6 profile: ${PROFILE_NAMES.join(', ')} (default: tabs)
  --duration s     measured seconds, passed to k6 as DURATION (default: the profile's own)
  --dry-run        print every command instead of running it
  --help           this text`;

function fail(message) {
  console.error(`compose-bench: ${message}`);
  process.exit(2);
}

function parseOptions() {
  const unknown = Object.keys(argv).filter((k) => k !== '_' && !FLAGS.includes(k));
  if (unknown.length > 0 || argv._.length > 0) {
    fail(`unknown argument ${[...unknown.map((k) => `--${k}`), ...argv._].join(' ')}; see --help`);
  }
  const layouts = String(argv.layouts ?? LAYOUTS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = layouts.filter((l) => !LAYOUTS.includes(l));
  if (layouts.length === 0 || bad.length > 0) fail(`--layouts takes a comma-separated list of ${LAYOUTS.join(', ')}`);
  const profile = argv.profile ?? 'tabs';
  if (!PROFILE_NAMES.includes(profile)) fail(`--profile must be one of ${PROFILE_NAMES.join(', ')}`);
  const duration = argv.duration;
  if (duration !== undefined && !(Number(duration) > 0)) fail('--duration takes a number of seconds > 0');
  return { layouts, profile, duration, dryRun: Boolean(argv['dry-run']), help: Boolean(argv.help) };
}

/** `docker compose` (v2 plugin) or the older standalone `docker-compose`. */
async function findCompose() {
  if ((await $`docker compose version`.nothrow().quiet()).ok) return { command: ['docker', 'compose'], v2: true };
  if ((await $`docker-compose version`.nothrow().quiet()).ok) return { command: ['docker-compose'], v2: false };
  return undefined;
}

const options = parseOptions();
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
// Compose reads docker-compose.yml and the results land in results/, both at the repo root.
const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
$.cwd = root;

let compose = await findCompose();
if (!compose) {
  const install = 'install Docker with the compose plugin: https://docs.docker.com/engine/install/';
  if (!options.dryRun) fail(`neither \`docker compose\` nor \`docker-compose\` works; ${install}`);
  console.log(`# docker compose not found (${install}); printing the commands for it anyway`);
  compose = { command: ['docker', 'compose'], v2: true };
}

/** Prints the command; unless --dry-run, runs it with the terminal attached and returns its exit code. */
async function step(command, env = {}) {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v} `);
  console.log(`$ ${assignments.join('')}${command.map(quote).join(' ')}`);
  if (options.dryRun) return 0;
  const run = $({ stdio: 'inherit', nothrow: true, env: { ...process.env, ...env } });
  return (await run`${command}`).exitCode;
}

if (!options.dryRun) {
  if (!existsSync('dist/src/cli/main.js'))
    fail('dist/src/cli/main.js is missing: run `npm run build` first (it renders the report)');
  if (!existsSync(`loadtests/${options.profile}.js`)) fail(`loadtests/${options.profile}.js is missing`);
  const ps = await $`${compose.command} ps -q`.nothrow().quiet();
  if (!ps.ok) {
    const why = ps.stderr.trim().split('\n').at(-1);
    fail(`cannot reach the Docker daemon (\`${compose.command.join(' ')} ps\` failed: ${why}); is Docker running?`);
  }
  // Created as the host user; left to Docker, the bind mount would create it as root and k6 could not write.
  await mkdir('results', { recursive: true });
}

const runId = `compose-${new Date().toISOString().replace(/[:.]/g, '-')}`;
// k6 runs as this user so that its files in results/ belong to whoever ran the script.
const k6User = { HOST_UID: process.getuid?.() ?? 1000, HOST_GID: process.getgid?.() ?? 1000 };
const outcomes = [];
for (const layout of options.layouts) {
  const testid = `${runId}-${layout}`;
  const services = [layout, `nginx-${layout}`];
  console.log(`\n# ${layout}: profile ${options.profile}, testid ${testid}`);
  // A fresh database for each layout, as `npm run bench` has: -v drops postgres's data volume.
  await step([...compose.command, 'rm', '--stop', '--force', '-v', 'postgres']);
  // Compose v1 has no --wait, but its `up -d` still waits for nginx's depends_on: service_healthy.
  const up = await step([
    ...compose.command,
    '--profile',
    layout,
    'up',
    '-d',
    '--build',
    ...(compose.v2 ? ['--wait'] : []),
  ]);
  let k6 = null;
  if (up === 0) {
    const env = ['-e', `TOPOLOGY=${layout}`, '-e', `PROFILE=${options.profile}`, '-e', `TESTID=${testid}`];
    if (options.duration !== undefined) env.push('-e', `DURATION=${options.duration}`);
    k6 = await step([...compose.command, '--profile', 'k6', 'run', '--rm', ...env, 'k6'], k6User);
  }
  // The next layout publishes the same ports.
  await step([...compose.command, '--profile', layout, 'rm', '--stop', '--force', ...services]);
  outcomes.push({ layout, testid, up, k6 });
}

const dir = `results/${runId}`;
console.log(`\n# merge ${outcomes.map((o) => `results/${o.testid}/run.json`).join(', ')} into ${dir}/run.json`);
if (options.dryRun) {
  await step(['node', 'dist/src/cli/main.js', 'report', dir]);
  process.exit(0);
}
const runs = [];
for (const o of outcomes) {
  const file = `results/${o.testid}/run.json`;
  o.results = existsSync(file);
  if (o.results) runs.push({ layout: o.layout, run: JSON.parse(await readFile(file, 'utf8')) });
}
if (runs.length === 0) fail('no layout produced a run.json; see the compose and k6 output above');
const [first] = runs;
// One case per layout, under the first run's profile and machine: the same shape `busbench bench` writes.
const merged = {
  ...first.run,
  finished_at: runs.at(-1).run.finished_at,
  command: `node scripts/compose-bench.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  sweep: { ...first.run.sweep, topology: runs.map((r) => r.layout) },
  cases: runs.flatMap((r) => r.run.cases),
};
await mkdir(dir, { recursive: true });
await writeFile(`${dir}/run.json`, `${JSON.stringify(merged, null, 2)}\n`);
const report = await step(['node', 'dist/src/cli/main.js', 'report', dir]);

// k6 exits 99 when a threshold failed (lost messages, errors): the run still has its results.
function outcome(o) {
  if (o.up !== 0) return `compose up failed (exit ${o.up})`;
  const k6 = { 0: 'k6 passed', 99: 'k6 thresholds failed (exit 99)' }[o.k6] ?? `k6 failed (exit ${o.k6})`;
  return o.results ? k6 : `${k6}, no run.json`;
}
console.log('');
for (const o of outcomes) console.log(`${o.layout.padEnd(19)} ${o.testid}: ${outcome(o)}`);
console.log(`\nreport: ${dir}/report.html`);
console.log(`Grafana: ${GRAFANA} (dashboards Layout comparison, PostgreSQL contention, k6; testid ${runId}-<layout>)`);
if (report !== 0 || outcomes.some((o) => o.up !== 0 || o.k6 !== 0 || !o.results)) process.exitCode = 1;
