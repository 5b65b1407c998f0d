// Test helpers: a fresh database per layout, `busbench serve` as a real child process, and
// an HTTP client that opens a new connection per request (so forked workers all get some).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { parsePrometheusText, sum } from '../loadtests/lib/prometheus-text.js';
import type { CaseResult, RunFile } from '../src/bench/results.js';
import { readRun } from '../src/bench/run-file.js';
import { createDatabase } from '../src/lib/postgres.js';
import { type LayoutProcess, spawnLayout } from '../src/topologies/layout-process.js';

export { isAlive } from '../src/lib/postgres.js';

export function adminUrl(): string {
  const url = process.env.BUSBENCH_TEST_ADMIN_URL;
  if (!url) throw new Error('run the tests with `npm test` (it starts PostgreSQL and sets BUSBENCH_TEST_ADMIN_URL)');
  return url;
}

export async function freshDatabase(): Promise<string> {
  return createDatabase(adminUrl(), `test_${randomBytes(6).toString('hex')}`);
}

export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'test/sql' });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export interface Layout extends LayoutProcess {
  databaseUrl: string;
}

export const SMALL_DATA = ['--users', '20', '--channels', '5', '--channels-per-user', '1'];

export async function startLayout(
  topology: string,
  flags: string[] = [],
  env: Record<string, string> = {},
): Promise<Layout> {
  const databaseUrl = env.DATABASE_URL ?? (await freshDatabase());
  const layoutFlags = ['--port', '0', '--bus-port', '0', '--workers', '2', '--threads', '4', ...SMALL_DATA, ...flags];
  return { ...(await spawnLayout(topology, databaseUrl, layoutFlags, env)), databaseUrl };
}

/** Every process descended from `pid` (children, grandchildren...). */
export function descendants(pid: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const pairs = out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, ppid] of pairs) {
      if (ppid !== parent) continue;
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

export interface Reply<T = Record<string, unknown>> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
  text: string;
}

/** One request on a new TCP connection; body is JSON-encoded unless a string. */
export function request<T = Record<string, unknown>>(
  method: string,
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Reply<T>> {
  const payload =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  return new Promise((done, fail) => {
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: {
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON (e.g. /metrics): keep the text
          }
          done({ status: res.statusCode ?? 0, headers: res.headers, body: body as T, text });
        });
      },
    );
    // Longer than any poll; a connection handed to a dying worker is never answered.
    req.setTimeout(options.timeoutMs ?? 70_000, () => req.destroy(new Error(`${method} ${url}: no answer`)));
    req.on('error', fail);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface RawReply {
  statusLine: string;
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  text: string;
}

/**
 * Bytes an HTTP client library would refuse to send (a malformed request), written on a new
 * TCP connection; the reply is read until the server closes it.
 */
export function rawRequest(url: string, bytes: string): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  return new Promise((done, fail) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let failure: Error | undefined;
    socket.setTimeout(10_000, () => socket.destroy(new Error(`${url}: the server did not close the connection`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end());
    // A server that closes with request bytes still unread may reset the connection after its reply.
    socket.on('error', (err) => {
      failure = err;
    });
    socket.on('close', () => {
      const reply = Buffer.concat(chunks).toString('utf8');
      const split = reply.indexOf('\r\n\r\n');
      if (split < 0) return fail(failure ?? new Error(`${url}: no complete reply: ${JSON.stringify(reply)}`));
      const [statusLine = '', ...lines] = reply.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      done({ statusLine, status: Number(statusLine.split(' ')[1]), headers, text: reply.slice(split + 4) });
    });
    socket.write(bytes);
  });
}

export async function login(layout: Layout, user: string): Promise<string> {
  const reply = await request<{ token: string }>('POST', `${layout.url}/session`, {
    body: { login: user, password: 'busbench' },
  });
  if (reply.status !== 201) throw new Error(`login ${user}: ${reply.status} ${reply.text}`);
  return reply.body.token;
}

export interface Polled {
  notifications: { id: number; channel: string; payload: { type: string; message: { body: string; id: number } } }[];
  last: number;
}

export function poll(layout: Layout, token: string, channels: string[], last: number, timeout?: number) {
  return request<Polled>('POST', `${layout.busUrl}/bus/poll`, {
    token,
    body: { channels, last, ...(timeout === undefined ? {} : { options: { timeout } }) },
  });
}

export function post(layout: Layout, token: string, channelId: number, body: string) {
  return request('POST', `${layout.url}/channels/${channelId}/messages`, { token, body: { body } });
}

/** The value of one sample in a Prometheus exposition, summed over series matching `labels`. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  return sum(parsePrometheusText(text), name, labels);
}

export async function metrics(layout: Layout): Promise<string> {
  return (await request('GET', `${layout.url}/metrics`, { timeoutMs: 10_000 })).text;
}

/** Runs `check` until it returns a value (not undefined) or `ms` pass; a throw counts as not yet. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    const value = await check().catch((err: unknown) => {
      lastError = err;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in ${ms} ms (last error: ${lastError})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Users 1-20 are all in channel 1 ("general"); user1 is in channel 3 (seed: 2 + (id+0) % 4). */
export const TOPOLOGIES = ['single-process', 'worker-threads', 'cluster-fork', 'dedicated-longpoll'] as const;

/**
 * Holds a request on the layout's pooled connection: a poll whose presence write waits on a
 * lock of the presence table. Resolves once PostgreSQL shows the layout's backend waiting,
 * with that backend's pid, the poll in flight, and release() to commit the lock away.
 */
export async function blockPresenceWrite(layout: Layout, token: string) {
  const locker = new pg.Client({ connectionString: layout.databaseUrl, application_name: 'test/locker' });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE presence IN ACCESS EXCLUSIVE MODE');
  const stuck = poll(layout, token, ['channel:1'], 0, 0);
  const waiting = await eventually(async () => {
    const rows = await sql<{ pid: number }>(
      layout.databaseUrl,
      "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'busbench/%/http/%' AND wait_event_type = 'Lock'",
    );
    return rows[0];
  });
  return {
    stuck,
    pid: waiting.pid,
    release: async () => {
      await locker.query('COMMIT').catch(() => {});
      await locker.end().catch(() => {});
    },
  };
}

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface BenchRun {
  stdout: string;
  /** The run folder it wrote: run.json, report.html... */
  dir: string;
  run: RunFile;
}

/** `busbench bench <args>` writing into `out` (on the test server, CI=true), and the run folder it wrote. */
export async function benchRun(out: string, args: string[]): Promise<BenchRun> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'bench', ...args, '--out', out], {
    env: { ...process.env, DATABASE_URL: adminUrl(), CI: 'true' },
    maxBuffer: 10 * 1024 * 1024,
    timeout: 300_000,
  });
  const [folder] = await readdir(out);
  assert.ok(folder, `bench wrote no run folder into ${out}`);
  const dir = path.join(out, folder);
  return { stdout, dir, run: await readRun(dir) };
}

/** benchRun's one case. */
export async function benchCase(out: string, args: string[]): Promise<CaseResult> {
  const c = (await benchRun(out, args)).run.cases[0];
  assert.ok(c, 'the run has no case');
  return c;
}
