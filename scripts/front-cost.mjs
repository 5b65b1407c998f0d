// What dedicated-longpoll's front costs: the same requests on one origin (the kit's front in
// the cluster primary, --bus-origin same) and straight to the workers (--bus-origin separate).
// Prints latency per request and the primary's CPU per 1,000 requests. Needs `npm run build`.
// usage: node scripts/front-cost.mjs [--requests 2000] [--seconds 5] [--connections 32]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
  },
});
const REQUESTS = Number(values.requests);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);

/** `busbench serve` with its own embedded PostgreSQL; resolves with its URL once ready. */
function serve(busOrigin) {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--topology', 'dedicated-longpoll', '--port', '0', '--bus-port', '0', '--bus-origin', busOrigin],
    {
      env: { ...process.env, BUSBENCH_DATA_DIR: `.busbench/front-cost-${process.pid}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  child.stderr.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ready line in 90 s:\n${log}`)), 90_000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = /^busbench ready (.*)$/m.exec(out);
      if (!line) return;
      clearTimeout(timer);
      done({ url: JSON.parse(line[1]).url, child });
    });
    child.once('exit', (code) => fail(new Error(`serve exited with ${code}:\n${log}`)));
  });
}

function stop(child) {
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

async function primaryCpuSeconds(pool) {
  const res = await pool.request({ path: '/metrics', method: 'GET' });
  const text = await res.body.text();
  const line = text.split('\n').find((l) => /^process_cpu_seconds_total\{[^}]*process="(front|primary)"/.test(l));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function timed(pool, request) {
  const started = performance.now();
  const res = await pool.request(request);
  await res.body.dump();
  if (res.statusCode >= 400) throw new Error(`${request.path}: ${res.statusCode}`);
  return performance.now() - started;
}

async function measure(busOrigin) {
  const { url, child } = await serve(busOrigin);
  const pool = new Pool(url, { connections: CONNECTIONS, keepAliveTimeout: 60_000 });
  try {
    const login = await pool.request({
      path: '/session',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'user1', password: 'busbench' }),
    });
    const { token } = await login.body.json();
    const channels = { path: '/channels', method: 'GET', headers: { authorization: `Bearer ${token}` } };
    for (let i = 0; i < 200; i++) await timed(pool, channels);

    const sequential = [];
    const cpuBefore = await primaryCpuSeconds(pool);
    for (let i = 0; i < REQUESTS; i++) sequential.push(await timed(pool, { path: '/healthz', method: 'GET' }));
    const cpuSequential = (await primaryCpuSeconds(pool)) - cpuBefore;
    sequential.sort((a, b) => a - b);

    const concurrent = [];
    const cpuStart = await primaryCpuSeconds(pool);
    const until = performance.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < until) concurrent.push(await timed(pool, channels));
      }),
    );
    const cpuConcurrent = (await primaryCpuSeconds(pool)) - cpuStart;
    concurrent.sort((a, b) => a - b);
    return {
      busOrigin,
      seqP50: quantile(sequential, 0.5),
      seqP99: quantile(sequential, 0.99),
      seqCpuPer1k: (cpuSequential / REQUESTS) * 1000,
      rate: concurrent.length / SECONDS,
      conP50: quantile(concurrent, 0.5),
      conP99: quantile(concurrent, 0.99),
      conCpuPer1k: (cpuConcurrent / concurrent.length) * 1000,
      conCpuPercent: (cpuConcurrent / SECONDS) * 100,
    };
  } finally {
    await pool.close();
    await stop(child);
  }
}

const rows = [];
for (const busOrigin of ['same', 'separate']) rows.push(await measure(busOrigin));
const f = (n, d = 2) => n.toFixed(d);
console.log(
  `dedicated-longpoll, ${REQUESTS} sequential GET /healthz on 1 connection, then ${CONNECTIONS} connections of GET /channels for ${SECONDS} s`,
);
console.log(
  'bus origin  seq p50 ms  seq p99 ms  primary CPU s/1k seq  req/s  p50 ms  p99 ms  primary CPU s/1k  primary CPU %',
);
for (const r of rows) {
  console.log(
    [
      r.busOrigin.padEnd(10),
      f(r.seqP50, 3).padStart(10),
      f(r.seqP99, 3).padStart(10),
      f(r.seqCpuPer1k, 3).padStart(20),
      f(r.rate, 0).padStart(6),
      f(r.conP50).padStart(7),
      f(r.conP99).padStart(7),
      f(r.conCpuPer1k, 3).padStart(17),
      f(r.conCpuPercent, 1).padStart(14),
    ].join('  '),
  );
}
