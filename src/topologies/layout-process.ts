// One layout as a child process (`busbench serve`), so its CPU, memory and event loop are
// its own and not the load generator's. This is all the measuring side and the tests know
// of a layout besides its HTTP endpoints: how to start it with given settings, what it will
// cost in database connections, its ready line and how to stop it.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Config, OPTIONS } from '../lib/server-options.js';
import { topologies } from './index.js';
import type { ConnectionBudget } from './topology.js';

export { THREAD_KILL_SIGNAL } from './threads/thread-kill.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const STDERR_KEPT = 64 * 1024;
const STOP_GRACE_MS = 20_000;

export interface LayoutProcess {
  url: string;
  /** Where /bus/* goes: the bus process in dedicated-longpoll, else url. */
  busUrl: string;
  child: ChildProcess;
  /** Everything the child printed on stderr so far. */
  log(): string;
  /** SIGTERM (parked polls are answered, pools closed), then wait for exit; resolves to the exit code. */
  stop(): Promise<number | null>;
}

/** The database connections `config`'s layout holds at most. */
export function connectionBudget(config: Config): ConnectionBudget {
  return topologies[config.topology].budget(config);
}

/**
 * The `busbench serve` flags that reproduce `config` exactly. The topology is spawnLayout's
 * own argument; the database comes as DATABASE_URL, so the data directory does not matter.
 */
export function serveFlags(config: Config): string[] {
  const flags: string[] = [];
  for (const [key, o] of Object.entries(OPTIONS)) {
    if (key === 'topology' || key === 'databaseUrl' || key === 'dataDir') continue;
    flags.push(o.flag.split(' ')[0] ?? '', String(config[key as keyof Config]));
  }
  return flags;
}

/**
 * Starts `busbench serve --topology <topology> <flags>` against `databaseUrl` (migrated and
 * seeded by the child) and resolves once it printed its ready line.
 */
export async function spawnLayout(
  topology: string,
  databaseUrl: string,
  flags: string[],
  env: Record<string, string> = {},
): Promise<LayoutProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--topology', topology, ...flags], {
    env: { ...process.env, ...env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    // The tail is what explains a failure; a chatty server must not grow the runner's memory.
    stderr = (stderr + d.toString()).slice(-STDERR_KEPT);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const ready = await new Promise<{ url: string; bus_url: string | null }>((done, fail) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`${topology} did not start in 60 s:\n${stderr}`));
    }, 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = /^busbench ready (.*)$/m.exec(stdout);
      if (!line?.[1]) return;
      clearTimeout(timer);
      try {
        done(JSON.parse(line[1]));
      } catch {
        fail(new Error(`${topology} printed an unreadable ready line: ${line[0]}`));
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(new Error(`could not start ${topology}: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${topology} exited with ${code} while starting:\n${stderr}`));
    });
  });
  return {
    url: ready.url,
    busUrl: ready.bus_url ?? ready.url,
    child,
    log: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // The server bounds its own shutdown at 10 s; past that, something is stuck.
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(kill);
      }
    },
  };
}
