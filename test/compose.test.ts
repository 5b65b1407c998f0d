// The compose stack's files, checked with the tools that run them (no Docker engine needed):
// docker-compose resolves docker-compose.yml for every profile, Debian's nginx loads each
// layout's config and really routes /bus/, promtool reads the Prometheus config, and
// compose-bench.mjs prints the commands it would run.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { RunFile } from '../src/bench/results.js';
import { TOPOLOGIES } from '../src/lib/server-options.js';
import { sampleRun } from './fixtures.js';
import { missingTool } from './tools.js';

const run = promisify(execFile);
// The compiled test lives in dist/test/.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NGINX_DIR = join(ROOT, 'deploy/nginx');
const ALWAYS_ON = ['postgres', 'db-exporter', 'prometheus', 'grafana'];
const INSTALL = {
  'docker-compose': 'apt-get install docker-compose',
  nginx: 'apt-get install nginx',
  promtool: 'apt-get install prometheus',
};
const scratch = await mkdtemp(join(tmpdir(), 'busbench-compose-'));
after(() => rm(scratch, { recursive: true, force: true }));

/** The tool's path: PATH, plus the sbin folders a non-root PATH lacks (Debian puts nginx there). */
function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

/** The tool, or a loud skip: a silent skip would read as a pass. */
function toolOrSkip(t: TestContext, name: keyof typeof INSTALL): string | undefined {
  const path = findTool(name);
  missingTool(t, path, `${name} not installed: ${INSTALL[name]} (CI installs it)`);
  return path;
}

// docker-compose 1.29 prints ports and volumes as strings, compose v2 as objects.
type Port = string | { host_ip?: string; published?: string | number; target: number };
type Volume = string | { source: string; target: string; read_only?: boolean };

interface ComposeService {
  image?: string;
  profiles?: string[];
  environment?: Record<string, string | null>;
  ports?: Port[];
  command?: string[] | string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: Volume[];
}

/** "127.0.0.1:8069:8069" whichever compose printed it. */
const portText = (p: Port) =>
  typeof p === 'string' ? p.replace(/\/tcp$/, '') : `${p.host_ip}:${p.published}:${p.target}`;
/** "/abs/source:/target" plus ":ro" when read-only, whichever compose printed it. */
const volumeText = (v: Volume) =>
  typeof v === 'string' ? v.replace(/:rw$/, '') : `${v.source}:${v.target}${v.read_only ? ':ro' : ''}`;

/** `docker-compose config` with these profiles, parsed. A bare environment, so no shell variable changes it. */
async function composeConfig(compose: string, profiles: string[]): Promise<Record<string, ComposeService>> {
  const args = [...profiles.flatMap((p) => ['--profile', p]), 'config'];
  const { stdout } = await run(compose, args, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: scratch } });
  return (parse(stdout) as { services: Record<string, ComposeService> }).services;
}

/**
 * The services `up` starts under these profiles: those without a profile and those in one of
 * them. docker-compose 1.29's `config` prints every service, so the selection is done here.
 */
function selected(services: Record<string, ComposeService>, profiles: string[]): string[] {
  return Object.entries(services)
    .filter(([, s]) => !s.profiles || s.profiles.some((p) => profiles.includes(p)))
    .map(([name]) => name)
    .sort();
}

test('docker-compose config accepts each layout profile, which adds exactly that layout and its nginx', async (t) => {
  const compose = toolOrSkip(t, 'docker-compose');
  if (!compose) return;
  for (const layout of TOPOLOGIES) {
    const services = await composeConfig(compose, [layout]);
    assert.deepEqual(selected(services, [layout]), [...ALWAYS_ON, layout, `nginx-${layout}`].sort(), layout);
    const app = services[layout];
    assert.ok(app, layout);
    assert.equal(app.image, 'busbench:local');
    assert.equal(app.environment?.BUSBENCH_TOPOLOGY, layout);
    assert.equal(app.environment?.DATABASE_URL, 'postgres://postgres:busbench@postgres:5432/busbench');
    assert.equal(app.depends_on?.postgres?.condition, 'service_healthy');
    assert.ok(
      app.healthcheck?.test.some((part) => part.includes('/healthz')),
      `${layout} has a health check`,
    );
    const ports = (app.ports ?? []).map(portText);
    const expected = layout === 'dedicated-longpoll' ? ['8069', '8072'] : ['8069'];
    assert.deepEqual(
      ports,
      expected.map((p) => `127.0.0.1:${p}:${p}`),
      `${layout} ports`,
    );

    const nginx = services[`nginx-${layout}`];
    assert.ok(nginx, `nginx-${layout}`);
    assert.ok(
      [nginx.command].flat().includes(`/etc/nginx/busbench/${layout}.conf`),
      `nginx-${layout} loads ${layout}.conf`,
    );
    assert.equal(nginx.depends_on?.[layout]?.condition, 'service_healthy');
    assert.deepEqual(nginx.volumes?.map(volumeText), [`${join(ROOT, 'deploy/nginx')}:/etc/nginx/busbench:ro`]);
  }
});

test('docker-compose config accepts every profile at once, and the k6 service runs only with its own', async (t) => {
  const compose = toolOrSkip(t, 'docker-compose');
  if (!compose) return;
  const profiles = [...TOPOLOGIES, 'k6'];
  const services = await composeConfig(compose, profiles);
  const layouts = TOPOLOGIES.flatMap((l) => [l, `nginx-${l}`]);
  assert.deepEqual(selected(services, profiles), [...ALWAYS_ON, ...layouts, 'k6'].sort());
  assert.deepEqual(selected(services, ['k6']), [...ALWAYS_ON, 'k6'].sort());
  assert.deepEqual(selected(services, []), [...ALWAYS_ON].sort(), 'plain `up` starts no layout and no k6');

  const k6 = services.k6;
  assert.ok(k6);
  assert.equal(k6.environment?.K6_PROMETHEUS_RW_SERVER_URL, 'http://prometheus:9090/api/v1/write');
  assert.equal(k6.environment?.TOPOLOGY, 'single-process', 'defaults when the shell sets nothing');
  assert.equal(k6.environment?.TESTID, 'manual');
  const script = [k6.command].flat().join('\n');
  assert.match(script, /k6 run -o experimental-prometheus-rw --tag "testid=\$+TESTID" "\/loadtests\/\$+PROFILE\.js"/);
  assert.match(script, /BASE_URL:-http:\/\/nginx-\$+TOPOLOGY:80/, 'k6 goes through the layout nginx');
  assert.deepEqual(k6.volumes?.map(volumeText), [
    `${join(ROOT, 'loadtests')}:/loadtests:ro`,
    `${join(ROOT, 'results')}:/results`,
  ]);
  assert.ok([services.prometheus?.command].flat().includes('--web.enable-remote-write-receiver'));
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/**
 * deploy/nginx copied to a scratch folder, listening on a loopback port instead of 80 (which
 * a non-root user cannot bind, and which may be taken), with `http://<host>:<port>` upstreams
 * swapped as given.
 */
async function nginxCopy(listen: number, upstreams: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(scratch, 'nginx-'));
  await cp(NGINX_DIR, dir, { recursive: true });
  for (const file of await readdir(dir)) {
    let text = (await readFile(join(dir, file), 'utf8')).replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${listen};`);
    for (const [from, to] of Object.entries(upstreams)) text = text.replaceAll(from, to);
    await writeFile(join(dir, file), text);
  }
  return dir;
}

/** nginx reads a single -g, so the global directives go in one. */
function nginxArgs(dir: string, layout: string, globals = ''): string[] {
  const pid = `pid ${join(dir, 'nginx.pid')};`;
  return ['-p', `${dir}/`, '-c', join(dir, `${layout}.conf`), '-e', 'stderr', '-g', `${pid} ${globals}`.trim()];
}

test('deploy/nginx holds one config per layout plus common.conf, and `nginx -t` accepts each', async (t) => {
  const nginx = toolOrSkip(t, 'nginx');
  if (!nginx) return;
  const files = (await readdir(NGINX_DIR)).filter((f) => f.endsWith('.conf')).sort();
  assert.deepEqual(files, ['common.conf', ...TOPOLOGIES.map((l) => `${l}.conf`)].sort());
  const dir = await nginxCopy(await freePort());
  for (const layout of TOPOLOGIES) {
    const listens = (await readFile(join(dir, `${layout}.conf`), 'utf8')).match(/listen 127\.0\.0\.1:\d+;/g);
    assert.equal(listens?.length, 1, `${layout}.conf has exactly one "listen 80;"`);
    await assert.doesNotReject(run(nginx, ['-t', '-q', ...nginxArgs(dir, layout)]), `nginx -t ${layout}.conf`);
  }
});

test('every nginx config keeps a long poll open: /bus/ unbuffered with a read timeout above 60 s', async () => {
  for (const layout of TOPOLOGIES) {
    const text = await readFile(join(NGINX_DIR, `${layout}.conf`), 'utf8');
    const bus = /location \/bus\/ \{([^}]*)\}/.exec(text)?.[1];
    assert.ok(bus, `${layout}.conf has a /bus/ location`);
    assert.match(bus, /^\s*proxy_buffering off;/m, layout);
    const timeout = Number(/^\s*proxy_read_timeout (\d+)s;/m.exec(bus)?.[1]);
    assert.ok(timeout > 60, `${layout}: proxy_read_timeout ${timeout}s must outlast a 50 s poll`);
  }
  const common = await readFile(join(NGINX_DIR, 'common.conf'), 'utf8');
  for (const directive of [
    'resolver 127.0.0.11 ',
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
  ]) {
    assert.ok(common.includes(directive), `common.conf: ${directive}`);
  }
});

interface StandIn {
  port: number;
  /** The headers of every request it got. */
  seen: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** An HTTP server that answers "<name> <method> <url>", in place of a layout process. */
async function standIn(name: string): Promise<StandIn> {
  const seen: StandIn['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => res.end(`${name} ${req.method} ${req.url}`));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

async function waitForNginx(port: number, child: ReturnType<typeof spawn>, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${stderr()}`);
    const open = await new Promise<boolean>((done) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        done(true);
      });
      socket.on('error', () => done(false));
    });
    if (open) return;
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`nginx did not listen on ${port} within 10 s:\n${stderr()}`);
}

test('nginx sends /bus/ to the bus process for dedicated-longpoll, to the app for the others', async (t) => {
  const nginx = toolOrSkip(t, 'nginx');
  if (!nginx) return;
  const app = await standIn('app');
  const bus = await standIn('bus');
  t.after(() => Promise.all([app.close(), bus.close()]));
  for (const layout of TOPOLOGIES) {
    const port = await freePort();
    const dir = await nginxCopy(port, {
      [`http://${layout}:8069`]: `http://127.0.0.1:${app.port}`,
      [`http://${layout}:8072`]: `http://127.0.0.1:${bus.port}`,
    });
    const config = await readFile(join(dir, `${layout}.conf`), 'utf8');
    assert.doesNotMatch(config, /http:\/\/[a-z-]+:\d+/, `${layout}.conf: every upstream was swapped for a stand-in`);
    const child = spawn(nginx, nginxArgs(dir, layout, 'daemon off;'), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = once(child, 'exit');
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    try {
      await waitForNginx(port, child, () => stderr);
      const origin = `http://127.0.0.1:${port}`;
      const poll = await fetch(`${origin}/bus/poll`, { method: 'POST', body: '{"channels":["channel:1"]}' });
      const busServer = layout === 'dedicated-longpoll' ? 'bus' : 'app';
      assert.equal(await poll.text(), `${busServer} POST /bus/poll`, `${layout}: /bus/poll`);
      assert.equal(
        await (await fetch(`${origin}/channels?x=1`)).text(),
        'app GET /channels?x=1',
        `${layout}: /channels`,
      );
      assert.equal(await (await fetch(`${origin}/metrics`)).text(), 'app GET /metrics', `${layout}: /metrics`);
      const forwarded = app.seen.at(-1);
      assert.equal(forwarded?.['x-forwarded-for'], '127.0.0.1', `${layout}: X-Forwarded-For`);
      assert.equal(forwarded?.host, `127.0.0.1:${port}`, `${layout}: the app sees the host the client used`);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }
  assert.equal(bus.seen.length, 1, 'only dedicated-longpoll reached the bus stand-in');
});

test('the Prometheus config passes promtool and scrapes every layout and the db exporter', async (t) => {
  const file = join(ROOT, 'deploy/prometheus/prometheus.yml');
  const config = parse(await readFile(file, 'utf8')) as {
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const targets = Object.fromEntries(
    config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((s) => s.targets)]),
  );
  assert.deepEqual(targets, {
    busbench: TOPOLOGIES.map((l) => `${l}:8069`),
    'db-exporter': ['db-exporter:9187'],
  });
  const promtool = toolOrSkip(t, 'promtool');
  if (!promtool) return;
  await assert.doesNotReject(run(promtool, ['check', 'config', file]));
});

test('the Docker build context lets in every folder tsc compiles except the tests, the web bundle sources and the migrations', async () => {
  const { include } = JSON.parse(await readFile(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const allowed = (await readFile(join(ROOT, '.dockerignore'), 'utf8'))
    .split('\n')
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).replace(/\/$/, ''));
  // `npm run build` also bundles web/ with scripts/build-web.mjs.
  const web = ['web', 'scripts/build-web.mjs'];
  const needed = [
    ...include.filter((dir) => dir !== 'test'),
    ...web,
    'migrations',
    'package.json',
    'package-lock.json',
  ];
  assert.deepEqual(
    needed.filter((path) => !allowed.includes(path)),
    [],
  );
});

async function composeBench(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, ['scripts/compose-bench.mjs', ...args], { cwd: ROOT, env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

test('compose-bench --dry-run prints, per layout in order: fresh postgres, up, k6 run, stop; then the report', async () => {
  const { code, stdout } = await composeBench([
    '--dry-run',
    '--layouts',
    'cluster-fork,dedicated-longpoll',
    '--profile',
    'many-tabs',
  ]);
  assert.equal(code, 0, stdout);
  const commands = stdout
    .split('\n')
    .filter((line) => line.startsWith('$ '))
    .map((line) => line.slice(2).replace(/(^| )(docker compose|docker-compose) /, '$1compose '));
  const runId = /TESTID=(compose-[\dT-]+Z)-cluster-fork/.exec(stdout)?.[1];
  assert.ok(runId, stdout);
  const expected = ['cluster-fork', 'dedicated-longpoll'].flatMap((layout) => [
    /^compose rm --stop --force -v postgres$/,
    new RegExp(`^compose --profile ${layout} up -d --build( --wait)?$`),
    new RegExp(
      `^HOST_UID=\\d+ HOST_GID=\\d+ compose --profile k6 run --rm -e TOPOLOGY=${layout} -e PROFILE=many-tabs -e TESTID=${runId}-${layout} k6$`,
    ),
    new RegExp(`^compose --profile ${layout} rm --stop --force ${layout} nginx-${layout}$`),
  ]);
  expected.push(new RegExp(`^node dist/src/cli/main\\.js report results/${runId}$`));
  assert.equal(commands.length, expected.length, commands.join('\n'));
  commands.forEach((command, i) => {
    assert.match(command, expected[i] as RegExp);
  });
});

test('compose-bench passes --duration to k6 as DURATION and rejects an unknown layout or flag', async () => {
  const { stdout } = await composeBench(['--dry-run', '--layouts', 'single-process', '--duration', '20']);
  assert.match(stdout, / -e PROFILE=tabs -e TESTID=\S+ -e DURATION=20 k6$/m);
  const badLayout = await composeBench(['--dry-run', '--layouts', 'single-process,threads']);
  assert.equal(badLayout.code, 2);
  assert.match(badLayout.stderr, /--layouts takes a comma-separated list of single-process, worker-threads/);
  const badFlag = await composeBench(['--dry-run', '--profiel', 'tabs']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /unknown argument --profiel/);
});

test('compose-bench goes on after k6 exit 99, merges one case per layout in order and renders the report', async (t) => {
  // A stand-in `docker` whose k6 run writes a fixture run.json where k6 would, failing its
  // thresholds (exit 99) for cluster-fork.
  const bin = join(scratch, 'fake-docker');
  await mkdir(bin);
  const runs: Record<string, RunFile> = {};
  for (const c of sampleRun().cases) {
    runs[c.topology] = { ...sampleRun(), engine: 'k6', sweep: { topology: [c.topology] }, cases: [c] };
    await writeFile(join(bin, `${c.topology}.json`), JSON.stringify(runs[c.topology]));
  }
  await writeFile(
    join(bin, 'docker'),
    `#!${process.execPath}
const { cpSync, mkdirSync } = require('node:fs');
const args = process.argv.slice(2);
const env = Object.fromEntries(args.flatMap((a, i) => (args[i - 1] === '-e' ? [a.split('=')] : [])));
if (args.includes('run')) {
  mkdirSync('results/' + env.TESTID, { recursive: true });
  cpSync(${JSON.stringify(bin)} + '/' + env.TOPOLOGY + '.json', 'results/' + env.TESTID + '/run.json');
  process.exit(env.TOPOLOGY === 'cluster-fork' ? 99 : 0);
}
`,
  );
  await chmod(join(bin, 'docker'), 0o755);
  const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH}` };
  const { code, stdout, stderr } = await composeBench(['--layouts', 'cluster-fork,single-process'], env);
  const runId = /TESTID=(compose-[\dT-]+Z)-cluster-fork/.exec(stdout)?.[1];
  assert.ok(runId, stdout + stderr);
  t.after(async () => {
    for (const dir of [runId, `${runId}-cluster-fork`, `${runId}-single-process`]) {
      await rm(join(ROOT, 'results', dir), { recursive: true, force: true });
    }
  });
  assert.equal(code, 1, 'a layout whose thresholds failed makes the script fail');
  assert.match(stdout, /^cluster-fork +\S+: k6 thresholds failed \(exit 99\)$/m);
  assert.match(stdout, /^single-process +\S+: k6 passed$/m);
  assert.match(
    stdout,
    /^\$ docker compose --profile single-process up -d --build --wait$/m,
    'single-process still ran',
  );
  const merged = JSON.parse(await readFile(join(ROOT, 'results', runId, 'run.json'), 'utf8')) as RunFile;
  assert.deepEqual(
    merged.cases.map((c) => c.id),
    ['cluster-fork', 'single-process'],
  );
  assert.deepEqual(merged.sweep.topology, ['cluster-fork', 'single-process']);
  assert.equal(merged.engine, 'k6');
  await assert.doesNotReject(readFile(join(ROOT, 'results', runId, 'report.html')), 'busbench report ran');
});
