// One layout as a child process (`busbench serve`), so its CPU, memory and event loop are
// its own and not the load generator's. Used by `busbench bench` and by the tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

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
    stderr += d.toString();
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
      if (line?.[1]) {
        clearTimeout(timer);
        done(JSON.parse(line[1]));
      }
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
      return exited;
    },
  };
}
