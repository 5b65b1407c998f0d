// The life of every measurement, written once: `busbench bench` with either engine, the
// browser bench and `busbench capacity` all run their cases through a Lab. A Lab holds the
// run's one PostgreSQL (embedded, or the DATABASE_URL server); each case gets a fresh
// database and its layout as a `busbench serve` child process, and loses both when it ends,
// however it ends: success, a thrown error, or Ctrl-C / SIGTERM, which also stops the
// embedded server, so nothing outlives the run.
import { randomBytes } from 'node:crypto';
import { createDatabase, dropDatabase, openPostgres, type PostgresServer, redact } from '../lib/postgres.js';
import type { Config } from '../lib/server-options.js';
import { connectionBudget, type LayoutProcess, serveFlags, spawnLayout } from '../topologies/layout-process.js';
import { type CpuSplit, pinPostgres, pinTree } from './cpu-split.js';
import type { Progress } from './progress.js';

/** What a case's measurement gets: its layout, up, on its own fresh database. */
export interface RunningCase {
  /** e.g. "[2/4] cluster-fork", for progress lines. */
  label: string;
  /** The exact server settings the layout runs with. */
  config: Config;
  databaseUrl: string;
  layout: LayoutProcess;
  progress: Progress;
  /** Stops the run's embedded PostgreSQL for `downMs` and starts it again; undefined with DATABASE_URL. */
  restartPostgres: ((downMs: number) => Promise<void>) | undefined;
  /** The settings as run.json records them: the database URL without its password. */
  serverConfig(): Record<string, unknown>;
}

export class Lab {
  readonly progress: Progress;
  readonly #database: PostgresServer;
  readonly #split: CpuSplit | undefined;
  #current: { layout: LayoutProcess | undefined; dbName: string } | undefined;
  readonly #interrupt = (signal: NodeJS.Signals) => void this.#onSignal(signal);

  private constructor(database: PostgresServer, progress: Progress, split: CpuSplit | undefined) {
    this.#database = database;
    this.progress = progress;
    this.#split = split;
    process.once('SIGINT', this.#interrupt);
    process.once('SIGTERM', this.#interrupt);
  }

  /**
   * Starts (or names) the run's PostgreSQL. `configs` are the settings of every case to come:
   * the embedded server gets room for the largest layout's connections plus the sampler,
   * the migration connection and a psql. With `split` (--generator-cpu) this process, and so
   * the runner or its k6, keeps to the generator's CPU, and PostgreSQL and each layout to the others.
   */
  static async open(server: Config, configs: Config[], progress: Progress, split?: CpuSplit): Promise<Lab> {
    const maxConnections = Math.max(100, ...configs.map((c) => connectionBudget(c).total + 20));
    if (split) pinTree(process.pid, [split.generator]);
    const database = await openPostgres({ ...server, maxConnections, log: (line) => progress.log(line) });
    const lab = new Lab(database, progress, split);
    await lab.#pinPostgres();
    return lab;
  }

  async #pinPostgres(): Promise<void> {
    if (this.#split) await pinPostgres(this.#database.adminUrl, this.#split.server);
  }

  /** Runs one case: fresh database, layout up, `measure`, then layout stopped and database dropped. */
  async run<T>(label: string, config: Config, measure: (c: RunningCase) => Promise<T>): Promise<T> {
    const dbName = `bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
    const databaseUrl = await createDatabase(this.#database.adminUrl, dbName);
    this.#current = { layout: undefined, dbName };
    try {
      this.progress.log(`[busbench] ${label}: starting (${connectionBudget(config).summary})`);
      const layout = await spawnLayout(config.topology, databaseUrl, serveFlags(config));
      this.#current.layout = layout;
      if (this.#split && layout.child.pid !== undefined) pinTree(layout.child.pid, this.#split.server);
      const restart = this.#database.restart;
      return await measure({
        label,
        config,
        databaseUrl,
        layout,
        progress: this.progress,
        // A restarted server is a new process, started from this one: it goes back to the server's CPUs.
        restartPostgres:
          restart &&
          (async (downMs) => {
            await restart(downMs);
            await this.#pinPostgres();
          }),
        serverConfig: () => ({ ...config, databaseUrl: redact(databaseUrl) }),
      });
    } finally {
      await this.#current.layout?.stop();
      this.#current = undefined;
      await dropDatabase(this.#database.adminUrl, dbName).catch(() => {});
    }
  }

  /**
   * Runs the cases in turn, labelled "[i/n] name". A case that fails is reported and skipped:
   * one broken case must not throw away the others' measurements.
   */
  async runAll<T>(
    cases: { name: string; config: Config; measure: (c: RunningCase) => Promise<T> }[],
  ): Promise<{ results: T[]; failed: string[] }> {
    const results: T[] = [];
    const failed: string[] = [];
    for (const [i, c] of cases.entries()) {
      const label = `[${i + 1}/${cases.length}] ${c.name}`;
      try {
        results.push(await this.run(label, c.config, c.measure));
      } catch (err) {
        failed.push(`${c.name}: ${(err as Error).message}`);
        this.progress.log(`[busbench] ${label}: FAILED: ${(err as Error).message}`);
      }
    }
    return { results, failed };
  }

  async close(): Promise<void> {
    process.removeListener('SIGINT', this.#interrupt);
    process.removeListener('SIGTERM', this.#interrupt);
    await this.#unpinPostgres();
    await this.#database.stop();
  }

  /** A DATABASE_URL server outlives the run: it gets every CPU back. */
  async #unpinPostgres(): Promise<void> {
    if (this.#split)
      await pinPostgres(this.#database.adminUrl, [this.#split.generator, ...this.#split.server]).catch(() => {});
  }

  async #onSignal(signal: NodeJS.Signals): Promise<void> {
    this.progress.log(`[busbench] ${signal}: stopping the layout and PostgreSQL`);
    const current = this.#current;
    await Promise.allSettled([current?.layout?.stop()]);
    if (current) await dropDatabase(this.#database.adminUrl, current.dbName).catch(() => {});
    await this.#unpinPostgres();
    await this.#database.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  }
}
