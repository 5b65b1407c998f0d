// `busbench bench --faults`: faults injected on a schedule during the measured window, and
// what each cost the simulated users. The bench reaches the layout only as any outsider
// could: PostgreSQL (pg_terminate_backend by application_name), a signal to a pid the
// layout's /healthz names, and the embedded server's restart. Every fault gets its window,
// from it to the next one (or the end of the measurement): the client-visible errors in it,
// how long until a poll and a post sent after the fault succeeded, until the error rate was
// back to what it was before any fault, the restarts /metrics counted, the database
// connections while it recovered, and the delivery check of the posts due in it.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { DeliveryCount } from '../../loadtests/lib/delivery.js';
import type { Window } from '../../loadtests/lib/load-plan.js';
import { round } from '../../loadtests/lib/numbers.js';
import type { Profile } from '../../loadtests/lib/profiles.js';
import { parsePrometheusText, sum } from '../../loadtests/lib/prometheus-text.js';
import { errors } from '../lib/errors.js';
import { type LayoutProcess, THREAD_KILL_SIGNAL } from '../topologies/layout-process.js';
import type { BenchOptions, FaultKind } from './options.js';
import type { FaultRecord } from './results.js';
import type { RunnerObserver } from './runner.js';

/** How long pg-restart keeps the embedded server down. */
export const PG_DOWN_MS = 1000;
/** Error-rate bins: small enough to time a recovery, large enough to hold a few requests. */
const BIN_MS = 250;
/** How often the database's connections are counted during a fault's window. */
const CONNECTIONS_EVERY_MS = 200;
/** How long before a fault the layout's restarts and connections are read. */
const READ_AHEAD_MS = 1000;

export interface FaultPlan {
  kinds: FaultKind[];
  everySeconds: number;
  count: number;
}

/** The run's fault plan, or undefined without --faults; only the node engine injects them. */
export function faultPlan(options: BenchOptions): FaultPlan | undefined {
  if (options.faults.length === 0) return undefined;
  if (options.browser || options.engine !== 'node') {
    throw errors.config('--faults', 'needs the node engine (no --engine k6, no --browser)');
  }
  return { kinds: options.faults, everySeconds: options.faultEvery, count: options.faultCount };
}

/** The profile with a measured window long enough for every fault of `plan`. */
export function withFaultWindow(profile: Profile, plan: FaultPlan | undefined): Profile {
  return plan ? { ...profile, duration: Math.max(profile.duration, faultWindowSeconds(plan)) } : profile;
}

/** The faults in the order they are injected: the list in turn, `count` rounds. */
export function faultSequence(plan: FaultPlan): FaultKind[] {
  return Array.from({ length: plan.count }, () => plan.kinds).flat();
}

/** Seconds to measure so that every fault has `everySeconds` after it. */
export function faultWindowSeconds(plan: FaultPlan): number {
  return (faultSequence(plan).length + 1) * plan.everySeconds;
}

interface ClientEvent {
  /** When the answer came (ms since the epoch) and when the request left. */
  at: number;
  sentAt: number;
  endpoint: string;
  status: number;
  code: string | undefined;
}

interface Injected {
  kind: FaultKind;
  at: number;
  applied: boolean;
  detail: string;
  restartsBefore: Promise<number | null>;
  connectionsBefore: number | null;
  /** Counted every CONNECTIONS_EVERY_MS after the fault. */
  connections: number[];
}

export interface FaultTarget {
  topology: string;
  layout: LayoutProcess;
  databaseUrl: string;
  restartPostgres: ((downMs: number) => Promise<void>) | undefined;
}

export class FaultInjector {
  readonly #plan: FaultPlan;
  readonly #target: FaultTarget;
  readonly #events: ClientEvent[] = [];
  /** When each duplicate arrival reached a tab. */
  readonly #duplicates: number[] = [];
  readonly #faults: Injected[] = [];
  #measureStart = 0;
  #measureEnd = 0;

  constructor(plan: FaultPlan, target: FaultTarget) {
    this.#plan = plan;
    this.#target = target;
  }

  /** What the runner reports of every request, for the per-fault figures. */
  observer(): RunnerObserver {
    return {
      request: (endpoint, status, ms, code) => {
        const at = Date.now();
        this.#events.push({ at, sentAt: at - ms, endpoint, status, code });
      },
      poll: () => {},
      delivered: () => {},
      duplicate: () => {
        this.#duplicates.push(Date.now());
      },
      postFailed: () => {},
    };
  }

  /**
   * Runs the measured window: a fault every `everySeconds` from its start, then the rest of
   * `seconds`. Resolves when the window is over.
   */
  async measure(seconds: number, log: (line: string) => void): Promise<void> {
    this.#measureStart = Date.now();
    const end = this.#measureStart + seconds * 1000;
    for (const [i, kind] of faultSequence(this.#plan).entries()) {
      const due = this.#measureStart + (i + 1) * this.#plan.everySeconds * 1000;
      if (due >= end) break;
      // The readings before the fault start a moment early: a cluster primary's /metrics can
      // take seconds under load, and the fault must come on time.
      await sleep(due - READ_AHEAD_MS - Date.now());
      const before = {
        restarts: this.#restarts(),
        connections: this.#connectionCount().catch(() => null),
      };
      await sleep(due - Date.now());
      const fault = await this.#inject(kind, before);
      log(`[busbench] fault ${kind} at ${((fault.at - this.#measureStart) / 1000).toFixed(1)} s: ${fault.detail}`);
      void this.#countConnections(fault, due + this.#plan.everySeconds * 1000);
    }
    const left = end - Date.now();
    if (left > 0) await sleep(left);
    this.#measureEnd = Date.now();
  }

  async #inject(
    kind: FaultKind,
    before: { restarts: Promise<number | null>; connections: Promise<number | null> },
  ): Promise<Injected> {
    const at = Date.now();
    let outcome: { applied: boolean; detail: string };
    try {
      outcome = await this.#apply(kind);
    } catch (err) {
      outcome = { applied: false, detail: `failed: ${(err as Error).message}` };
    }
    const fault: Injected = {
      kind,
      at,
      ...outcome,
      restartsBefore: before.restarts,
      connectionsBefore: await before.connections,
      connections: [],
    };
    this.#faults.push(fault);
    return fault;
  }

  async #apply(kind: FaultKind): Promise<{ applied: boolean; detail: string }> {
    const { topology, layout } = this.#target;
    if (kind === 'listen-drop') {
      const n = await this.#terminate("application_name LIKE 'busbench/%/listen/%'");
      return { applied: n > 0, detail: `${n} LISTEN connection(s) terminated` };
    }
    if (kind === 'backend-kill') {
      // Mid-transaction: a pooled backend with a transaction open. Under load one shows up
      // within moments; looked for a bounded number of times.
      for (let tries = 0; tries < 40; tries++) {
        const n = await this.#terminate(
          "application_name ~ '^busbench/[^/]+/(http|bus)/' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()",
        );
        if (n > 0) return { applied: true, detail: `${n} pooled backend(s) in a transaction terminated` };
        await sleep(25);
      }
      return { applied: false, detail: 'no pooled backend was in a transaction for 1 s' };
    }
    if (kind === 'worker-kill') {
      if (topology === 'single-process') return { applied: false, detail: 'n/a: the only process is the layout' };
      const pid = layout.child.pid;
      if (topology === 'worker-threads') {
        if (pid) process.kill(pid, THREAD_KILL_SIGNAL);
        return { applied: pid !== undefined, detail: 'one request thread terminated' };
      }
      // The process that serves /bus: a forked worker in cluster-fork, the bus process in dedicated-longpoll.
      const health = (await (await fetch(`${layout.busUrl}/bus/healthz`)).json()) as { pid?: number; process?: string };
      if (!health.pid || health.pid === pid)
        return { applied: false, detail: 'n/a: /bus/healthz named the layout process' };
      process.kill(health.pid, 'SIGKILL');
      return { applied: true, detail: `SIGKILL to ${health.process ?? 'process'} pid ${health.pid}` };
    }
    if (this.#target.restartPostgres) {
      await this.#target.restartPostgres(PG_DOWN_MS);
      return { applied: true, detail: `embedded PostgreSQL stopped for ${PG_DOWN_MS} ms and started again` };
    }
    const n = await this.#terminate('pid <> pg_backend_pid()');
    return { applied: n > 0, detail: `DATABASE_URL: all ${n} backend(s) of the case database terminated` };
  }

  /** pg_terminate_backend on this database's backends matching `where`; resolves to how many. */
  async #terminate(where: string): Promise<number> {
    const rows = await this.#query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND ${where}`,
    );
    return rows.filter((r) => r.ok).length;
  }

  async #query<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
    const client = new pg.Client({
      connectionString: this.#target.databaseUrl,
      application_name: 'busbench/faults',
      connectionTimeoutMillis: 1000,
      query_timeout: 2000,
    });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** busbench_worker_restarts_total on the layout's /metrics, or null when it did not answer. */
  async #restarts(): Promise<number | null> {
    try {
      const reply = await fetch(`${this.#target.layout.url}/metrics`, { signal: AbortSignal.timeout(8000) });
      return sum(parsePrometheusText(await reply.text()), 'busbench_worker_restarts_total');
    } catch {
      return null;
    }
  }

  /** The layout's connections to the case database (the bench's own left out). */
  async #connectionCount(): Promise<number> {
    const rows = await this.#query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name ~ '^busbench/[^/]+/'",
    );
    return rows[0]?.n ?? 0;
  }

  /** Counts the layout's connections until `until`; a count the outage refused is skipped. */
  async #countConnections(fault: Injected, until: number): Promise<void> {
    while (Date.now() < until) {
      const n = await this.#connectionCount().catch(() => undefined);
      if (n !== undefined) fault.connections.push(n);
      await sleep(CONNECTIONS_EVERY_MS);
    }
  }

  /**
   * The per-fault figures, once the measurement and the drain are over (the layout still up,
   * for /metrics); `deliveriesDueIn` is the runner's delivery check of the posts due in a window.
   */
  async records(deliveriesDueIn: (window: Window) => DeliveryCount): Promise<FaultRecord[]> {
    const end = this.#measureEnd || Date.now();
    const firstFault = this.#faults[0]?.at ?? end;
    const baseline = this.#events.filter((e) => e.at >= this.#measureStart && e.at < firstFault);
    const baselineSeconds = (firstFault - this.#measureStart) / 1000;
    const baselineErrorsPerBin =
      baselineSeconds > 0 ? (baseline.filter(isError).length / baselineSeconds) * (BIN_MS / 1000) : 0;
    const readings = await Promise.all([...this.#faults.map((f) => f.restartsBefore), this.#restarts()]);
    return this.#faults.map((fault, i) => {
      const windowEnd = this.#faults[i + 1]?.at ?? end;
      const inWindow = this.#events.filter((e) => e.at >= fault.at && e.at < windowEnd);
      const errors: Record<string, number> = {};
      for (const e of inWindow.filter(isError)) {
        const key = `${e.status === 0 ? 'no answer' : e.status}${e.code ? ` ${e.code}` : ''}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
      const firstOk = (endpoint: string, status: number) => {
        const ok = inWindow.find((e) => e.endpoint === endpoint && e.status === status && e.sentAt >= fault.at);
        return ok ? ok.at - fault.at : null;
      };
      const [before, after] = [readings[i] ?? null, readings[i + 1] ?? null];
      const delivery = deliveriesDueIn({ start: fault.at, end: windowEnd });
      return {
        kind: fault.kind,
        at_s: round((fault.at - this.#measureStart) / 1000),
        applied: fault.applied,
        detail: fault.detail,
        window_s: round((windowEnd - fault.at) / 1000),
        errors,
        recovery_ms: {
          first_poll: firstOk('bus.poll', 200),
          first_post: firstOk('chat.post', 201),
          error_rate: errorRateRecovery(inWindow, fault.at, windowEnd, baselineErrorsPerBin),
        },
        restarts: before === null || after === null ? null : after - before,
        db_connections: {
          before: fault.connectionsBefore,
          peak: fault.connections.length > 0 ? Math.max(...fault.connections) : null,
          end: fault.connections.at(-1) ?? null,
        },
        delivery: {
          posts: delivery.posts,
          lost: delivery.lost,
          pending: delivery.pending,
          duplicated: this.#duplicates.filter((at) => at >= fault.at && at < windowEnd).length,
        },
      };
    });
  }
}

/** What a user sees as a failure: no answer, or any 4xx/5xx (a 409 E_TX_CONFLICT included, as before the fault). */
function isError(e: ClientEvent): boolean {
  return e.status === 0 || e.status >= 400;
}

/**
 * Milliseconds from the fault until the end of the last BIN_MS bin of its window with more
 * errors than twice the pre-fault rate; 0 if none; null if the window ended still erring.
 */
function errorRateRecovery(events: ClientEvent[], at: number, end: number, baselinePerBin: number): number | null {
  const bins = Math.max(1, Math.ceil((end - at) / BIN_MS));
  const counts = new Array<number>(bins).fill(0);
  for (const e of events) {
    if (!isError(e)) continue;
    const bin = Math.min(bins - 1, Math.floor((e.at - at) / BIN_MS));
    counts[bin] = (counts[bin] ?? 0) + 1;
  }
  let last = -1;
  counts.forEach((n, i) => {
    if (n > 0 && n > 2 * baselinePerBin) last = i;
  });
  if (last === bins - 1 && bins > 1) return null;
  return last < 0 ? 0 : (last + 1) * BIN_MS;
}
