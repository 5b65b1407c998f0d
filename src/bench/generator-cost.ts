// `busbench generator-cost` (npm run bench:generator): what generating the load costs, the
// Node runner against k6, like for like. Both run the same load (N tabs, one per browser,
// long-polling only) against the same trivial server started here on 127.0.0.1, which holds
// each poll 5 s and answers it empty; one generator at a time, back to back. Each runs as a
// child of GNU time, which reports its whole-process peak RSS and CPU seconds; the server
// counts the polls it answered. Figures are printed, never asserted.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { round } from '../../loadtests/lib/numbers.js';

const GNU_TIME = '/usr/bin/time';
const POLL_SECONDS = 5;
const WARMUP_SECONDS = 6;
const DURATION_SECONDS = 15;
/**
 * A generator still running this long after its load should have ended is killed (and says
 * so): k6 creates every VU before the test starts, about 15 ms of CPU each here.
 */
const graceSeconds = (tabs: number) => 60 + tabs * 0.04;
const LOAD = fileURLToPath(new URL('./generator-cost-runner.js', import.meta.url));
const K6_SCRIPT = fileURLToPath(new URL('../../k6/tabs.js', import.meta.url));

export interface GeneratorCost {
  engine: 'node' | 'k6';
  tabs: number;
  peakRssBytes: number;
  cpuSeconds: number;
  polls: number;
  exitCode: number | null;
}

interface TrivialServer {
  url: string;
  /** Polls answered since the last call. */
  takePolls(): number;
  close(): Promise<void>;
}

/** Just enough of busbench's API for a tab to log in, list its one channel and long-poll. */
async function startTrivialServer(): Promise<TrivialServer> {
  let polls = 0;
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = req.url ?? '/';
      if (req.method === 'POST' && url === '/bus/poll') {
        const timer = setTimeout(() => {
          polls++;
          json(res, 200, { notifications: [], last: 0 });
        }, POLL_SECONDS * 1000);
        res.once('close', () => clearTimeout(timer));
      } else if (url === '/config') json(res, 200, { topology: 'trivial', poll_timeout: POLL_SECONDS });
      else if (url === '/session') json(res, 201, { token: 'trivial', user: { id: 1 } });
      else if (url === '/channels') json(res, 200, { channels: [{ id: 1 }] });
      else if (url.startsWith('/channels/1/messages'))
        json(res, req.method === 'POST' ? 201 : 200, { messages: [], next_before: null });
      else if (url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('');
      } else json(res, 404, { error: 'not here' });
    });
  });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    takePolls() {
      const n = polls;
      polls = 0;
      return n;
    },
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** Runs `command` under GNU time; resolves to its peak RSS, CPU seconds and exit code. */
async function measure(command: string[], env: NodeJS.ProcessEnv, tabs: number) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'busbench-generator-'));
  const report = path.join(dir, 'time.txt');
  try {
    // A process group of its own, so that an overrun stops the generator and not only GNU time.
    const child = spawn(GNU_TIME, ['-f', '%M %U %S', '-o', report, ...command], {
      env,
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    });
    const limit = setTimeout(
      () => {
        console.error(`[busbench] generator-cost: ${command[0]} overran, stopped`);
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      },
      (WARMUP_SECONDS + DURATION_SECONDS + graceSeconds(tabs)) * 1000,
    );
    const exitCode = await new Promise<number | null>((done, fail) => {
      child.once('error', fail);
      child.once('exit', (code) => done(code));
    });
    clearTimeout(limit);
    const line = (await readFile(report, 'utf8').catch(() => '')).trim().split('\n').at(-1) ?? '';
    const [kb = 0, user = 0, sys = 0] = line.split(' ').map(Number);
    return { peakRssBytes: kb * 1024, cpuSeconds: user + sys, exitCode };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function hasK6(): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => existsSync(path.join(dir, 'k6')));
}

async function runOne(engine: 'node' | 'k6', tabs: number, server: TrivialServer): Promise<GeneratorCost> {
  const timeline = [String(WARMUP_SECONDS), String(DURATION_SECONDS)];
  const command =
    engine === 'node'
      ? [process.execPath, LOAD, server.url, String(tabs), ...timeline]
      : ['k6', 'run', '--quiet', '--compatibility-mode=base', K6_SCRIPT];
  const env = {
    ...process.env,
    BASE_URL: server.url,
    USERS: String(tabs),
    BROWSERS: '1',
    TABS: '1',
    RATE: '0',
    WARMUP: timeline[0],
    DURATION: timeline[1],
    DRAIN: '0',
    K6_NO_USAGE_REPORT: 'true',
  };
  // k6 reads -e values; everything else comes from the environment.
  if (engine === 'k6')
    command.splice(
      4,
      0,
      ...['USERS', 'BROWSERS', 'TABS', 'RATE', 'WARMUP', 'DURATION', 'DRAIN', 'BASE_URL'].flatMap((k) => [
        '-e',
        `${k}=${env[k as keyof typeof env]}`,
      ]),
    );
  server.takePolls();
  const figures = await measure(command, env, tabs);
  return { engine, tabs, ...figures, polls: server.takePolls() };
}

/** The side-by-side table: per tab, per poll, and the runner-to-k6 ratios. */
export function formatGeneratorCost(costs: GeneratorCost[]): string {
  const mb = (b: number) => round(b / 2 ** 20, 0);
  const kbPerTab = (c: GeneratorCost) => round(c.peakRssBytes / 1024 / c.tabs, 1);
  const usPerPoll = (c: GeneratorCost) => (c.polls > 0 ? round((c.cpuSeconds * 1e6) / c.polls, 0) : null);
  const rows = [
    ['tabs', 'engine', 'peak RSS MB', 'KB/tab', 'CPU s', 'polls', 'CPU us/poll', 'k6/runner RSS', 'runner/k6 CPU'],
  ];
  const tabs = [...new Set(costs.map((c) => c.tabs))];
  for (const n of tabs) {
    const node = costs.find((c) => c.tabs === n && c.engine === 'node');
    const k6 = costs.find((c) => c.tabs === n && c.engine === 'k6');
    for (const c of [node, k6]) {
      if (!c) continue;
      const ratios =
        c === k6 && node
          ? [
              `${round(k6.peakRssBytes / node.peakRssBytes, 1)}x`,
              (() => {
                const a = usPerPoll(node);
                const b = usPerPoll(k6);
                return a !== null && b !== null && b > 0 ? `${round(a / b, 2)}` : 'n/a';
              })(),
            ]
          : ['', ''];
      const failed = c.exitCode === 0 ? '' : ` (exit ${c.exitCode})`;
      rows.push([
        String(n),
        `${c.engine}${failed}`,
        String(mb(c.peakRssBytes)),
        String(kbPerTab(c)),
        String(round(c.cpuSeconds, 1)),
        String(c.polls),
        String(usPerPoll(c) ?? 'n/a'),
        ...ratios,
      ]);
    }
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) => r.map((v, i) => (i < 2 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  '))
    .join('\n');
}

export async function runGeneratorCost(tabCounts: number[]): Promise<GeneratorCost[]> {
  if (!existsSync(GNU_TIME))
    throw new Error(
      `${GNU_TIME} (GNU time) is needed to read each generator's peak RSS and CPU: install the "time" package`,
    );
  const k6 = hasK6();
  if (!k6) console.error('[busbench] generator-cost: no k6 on PATH, so the runner is measured alone');
  const server = await startTrivialServer();
  const costs: GeneratorCost[] = [];
  try {
    for (const tabs of tabCounts) {
      for (const engine of k6 ? (['node', 'k6'] as const) : (['node'] as const)) {
        console.error(
          `[busbench] generator-cost: ${engine} with ${tabs} tabs (${WARMUP_SECONDS} s warm-up + ${DURATION_SECONDS} s polling)...`,
        );
        const c = await runOne(engine, tabs, server);
        console.error(
          `[busbench] generator-cost: ${engine} ${tabs} tabs: peak RSS ${round(c.peakRssBytes / 2 ** 20, 0)} MB, ${round(c.cpuSeconds, 1)} CPU s, ${c.polls} polls`,
        );
        costs.push(c);
      }
    }
  } finally {
    await server.close();
  }
  return costs;
}
