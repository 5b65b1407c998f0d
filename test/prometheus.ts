// A real Prometheus (Debian's /usr/bin/prometheus) for tests: it scrapes loopback targets every
// second, so a dashboard query is checked against what Prometheus really stores and how PromQL
// really evaluates, not against a hand-written exposition.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROMETHEUS = '/usr/bin/prometheus';
const START_TIMEOUT_MS = 20_000;

export const PROMETHEUS_MISSING = `prometheus not found at ${PROMETHEUS}: apt-get install prometheus (CI installs it)`;

export function prometheusPath(): string | undefined {
  return existsSync(PROMETHEUS) ? PROMETHEUS : undefined;
}

export interface QueryResult {
  /** Series (vector) or points (scalar) the query returned; an empty array means "no data". */
  result: unknown[];
  /** Set when Prometheus rejected the query (bad PromQL) or could not be reached. */
  error?: string;
}

export interface TargetHealth {
  job: string;
  health: string;
  lastError: string;
}

export interface Prometheus {
  url: string;
  query(expr: string): Promise<QueryResult>;
  targets(): Promise<TargetHealth[]>;
  stop(): Promise<void>;
}

/** A port free right now on loopback; Prometheus takes no port 0, so the test picks one. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

/** Scrape config: one job per target, named by the key; each target is a full /metrics URL. */
function config(targets: Record<string, string>): string {
  const jobs = Object.entries(targets).map(([job, target]) => {
    const url = new URL(target);
    return [
      `  - job_name: ${JSON.stringify(job)}`,
      `    metrics_path: ${JSON.stringify(url.pathname)}`,
      '    static_configs:',
      `      - targets: [${JSON.stringify(url.host)}]`,
    ].join('\n');
  });
  // scrape_timeout must not exceed scrape_interval, and its default (10s) does.
  return ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', ...jobs, ''].join('\n');
}

export async function startPrometheus(targets: Record<string, string>): Promise<Prometheus> {
  const binary = prometheusPath();
  if (!binary) throw new Error(PROMETHEUS_MISSING);
  const dir = await mkdtemp(join(tmpdir(), 'busbench-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, config(targets));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // k6's experimental-prometheus-rw output pushes here in the compose setup; on in the test too,
      // so a Prometheus that lacks the flag fails here and not only under compose.
      '--web.enable-remote-write-receiver',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    log = (log + chunk).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited with code ${child.exitCode}:\n${log}`);
      const ready = await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready in ${START_TIMEOUT_MS} ms:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    async query(expr) {
      try {
        const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
        const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown } };
        if (body.status !== 'success') return { result: [], error: body.error ?? `HTTP ${response.status}` };
        const result = body.data?.result;
        // A scalar comes back as one [time, value] pair, not a list of series.
        return { result: Array.isArray(result) && typeof result[0] !== 'number' ? result : [result] };
      } catch (err) {
        return { result: [], error: (err as Error).message };
      }
    },
    async targets() {
      const response = await fetch(`${url}/api/v1/targets?state=active`);
      const body = (await response.json()) as {
        data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
      };
      return body.data.activeTargets.map((t) => ({ job: t.labels.job, health: t.health, lastError: t.lastError }));
    },
    stop,
  };
}
