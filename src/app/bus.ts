// Parked polls and their wake-ups (Odoo's bus dispatcher). A parked poll holds no database
// connection: it registers the channels it waits for and sleeps until a notification names
// one of them. What a wake-up costs is the dispatch mode:
//   per-waiter - every woken poll runs its own fetch, so a broadcast to N parked polls is
//                N queries at once (Odoo up to 15, the "connection pool is full" herd);
//   shared     - the process runs one fetch for all polls woken together and hands each
//                poll its rows in memory.
// A fetch runs wherever the process has a pool: on its own, or, for worker-threads'
// dispatcher in the main thread (which holds none), as a task for a request thread.

import { errors } from '../lib/errors.js';
import type { Config, DispatchMode } from '../lib/server-options.js';
import type { Database } from './database.js';
import type { Metrics } from './metrics.js';
import type { Tx } from './transaction.js';

export interface Notification {
  id: number;
  channel: string;
  payload: unknown;
  created_at: Date;
}

interface Waiter {
  channels: readonly string[];
  last: number;
  /** Set when a notification for one of its channels arrived (per-waiter: fetch now). */
  woken: boolean;
  /** Shared mode: the rows fetched for this waiter by the process-wide fetch. */
  rows: Notification[] | undefined;
  wake: (() => void) | undefined;
  /** The client closed its connection: nobody is left to answer. */
  hungUp: boolean;
}

/** Rows per fetch; a client that gets a full page polls again from its new cursor. */
const FETCH_LIMIT = 1000;
const FETCH_SQL = `SELECT id, channel, payload, created_at FROM bus_notifications
  WHERE id > $1 AND channel = ANY($2::text[])
    AND ($1 > 0 OR created_at > now() - make_interval(secs => $3))
  ORDER BY id LIMIT ${FETCH_LIMIT}`;

/** setTimeout's longest delay: a follower sleeps until woken. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Any constant: the key of the transaction-scoped advisory lock that orders bus inserts. */
const BUS_ORDER_LOCK = 0x6275_7362;

/**
 * Adds a row to the bus inside `tx`. A poll answers with `last` = the highest id it saw, so
 * ids must become visible in id order: if tx A took id 10 and tx B id 11 and B committed
 * first, a poll could see 11, move its cursor past 10 and never deliver A's row. The lock,
 * held from the insert to the commit, makes commit order equal id order. Only bus writers
 * queue on it, for the few microseconds between their insert and their commit.
 */
export async function insertNotification(tx: Tx, channel: string, payload: unknown): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [BUS_ORDER_LOCK]);
  await tx.query('INSERT INTO bus_notifications (channel, payload) VALUES ($1, $2)', [
    channel,
    JSON.stringify(payload),
  ]);
}

/** Odoo's bus TIMEOUT, in seconds, in every version. */
const ODOO_BUS_TIMEOUT = 50;

/**
 * How far back a poll with `last = 0` reads, and half of how long rows are kept. Odoo uses
 * its TIMEOUT (50 s) for both and for the poll's wait; a profile that shortens the wait (a
 * 1 s poll timeout) must not shrink the history with it, or a poll that waits longer than
 * the wait for a thread or a connection finds its rows already out of reach or deleted.
 */
export function busHistorySeconds(config: Pick<Config, 'pollTimeout'>): number {
  return Math.max(config.pollTimeout, ODOO_BUS_TIMEOUT);
}

export type FetchReason = 'initial' | 'wakeup';

/**
 * Reads the rows a poll is owed. A process runs the query on its own pool (databaseFetch);
 * worker-threads' dispatcher, which holds no pool, runs it on a request thread instead.
 */
export type BusFetch = (channels: readonly string[], last: number, reason: FetchReason) => Promise<Notification[]>;

/** The bus query on `db`, counted where it runs. */
export function databaseFetch(
  db: Pick<Database, 'query'>,
  config: Pick<Config, 'pollTimeout' | 'dispatch'>,
  metrics: Metrics,
): BusFetch {
  return async (channels, last, reason) => {
    metrics.busFetches.inc({ dispatch: config.dispatch, reason });
    const { rows } = await db.query<Notification>(FETCH_SQL, [last, channels, busHistorySeconds(config)]);
    return rows;
  };
}

export class Bus {
  readonly #fetch: BusFetch;
  readonly #config: Pick<Config, 'pollTimeout' | 'maxParked'>;
  readonly #dispatch: DispatchMode;
  readonly #metrics: Metrics;
  readonly #waiters = new Set<Waiter>();
  /** The waiters that are websockets (follow), not parked polls: --max-parked and the gauge leave them out. */
  readonly #followers = new Set<Waiter>();
  readonly #byChannel = new Map<string, Set<Waiter>>();
  /** Shared mode: waiters woken while a fetch is in flight wait for the next one. */
  #pending = new Set<Waiter>();
  #fetching = false;
  #closed = false;
  /**
   * Wake-ups heard so far, and the last one that named each channel: a poll whose first fetch
   * ran elsewhere (worker-threads) parks without missing a notification heard meanwhile.
   */
  #heard = 0;
  #heardAll = 0;
  readonly #heardOn = new Map<string, number>();

  constructor(fetch: BusFetch, config: Pick<Config, 'pollTimeout' | 'maxParked' | 'dispatch'>, metrics: Metrics) {
    this.#fetch = fetch;
    this.#config = config;
    this.#dispatch = config.dispatch;
    this.#metrics = metrics;
    this.#metrics.parkedPolls.set({ process: metrics.process }, 0);
  }

  get parked(): number {
    return this.#waiters.size;
  }

  /** A point in the wake-ups heard: a first fetch that starts after it may pass it to poll(). */
  mark(): number {
    return this.#heard;
  }

  /**
   * Answers a poll: notifications with id > last on `channels`, waiting up to `timeoutMs`
   * when there are none. The waiter is registered BEFORE the first fetch, so a
   * notification that lands between that fetch and the wait still wakes it. `fetchedAfter`:
   * the first fetch already ran, found nothing, and started after mark() returned this; a
   * wake-up heard since then for one of `channels` makes the poll fetch at once.
   */
  async poll(
    channels: readonly string[],
    last: number,
    timeoutMs: number,
    hungUp?: AbortSignal,
    fetchedAfter?: number,
  ): Promise<Notification[]> {
    if (this.#closed) throw errors.shuttingDown();
    if (this.#waiters.size - this.#followers.size >= this.#config.maxParked)
      throw errors.tooManyPolls(this.#config.maxParked);
    const waiter: Waiter = { channels, last, woken: false, rows: undefined, wake: undefined, hungUp: false };
    this.#add(waiter);
    // A client that hangs up leaves nobody to answer: its waiter goes at once, not at the timeout.
    const leave = () => {
      waiter.hungUp = true;
      waiter.wake?.();
    };
    hungUp?.addEventListener('abort', leave, { once: true });
    try {
      if (hungUp?.aborted) return [];
      if (fetchedAfter === undefined) {
        const rows = await this.fetch(channels, last, 'initial');
        if (rows.length > 0) return rows;
      } else if (this.#heardSince(channels, fetchedAfter)) waiter.woken = true;
      const deadline = Date.now() + timeoutMs;
      while (!this.#closed && !waiter.hungUp) {
        const remaining = deadline - Date.now();
        if (remaining <= 0 || !(await this.#sleep(waiter, remaining))) return [];
        const found = waiter.rows ?? (await this.fetch(channels, last, 'wakeup'));
        waiter.rows = undefined;
        waiter.woken = false;
        // A wake-up may bring nothing for this poll (a reconnect wakes everyone): keep waiting.
        if (found.length > 0) return found;
        this.#metrics.busEmptyWakeups.inc({ dispatch: this.#dispatch });
      }
      return [];
    } finally {
      // `leave` stays on the signal: the signal is the request's, gone with it, and an abort
      // after the answer finds no wake to call. EventTarget's removal cost a broadcast's
      // fan-out 7 % of its time, once per woken poll.
      this.#remove(waiter);
    }
  }

  /**
   * A websocket's subscription: one waiter that stays registered from its first fetch until
   * `stop` aborts or the bus closes, handing each batch of rows newer than its cursor to
   * `deliver` in id order and moving the cursor past them. Registered without a gap, it needs
   * no fetch of its own between wake-ups, so a socket costs a wake-up what a parked poll costs
   * (one fetch per socket, or its share of the shared one). Rejects when a fetch fails.
   */
  async follow(
    channels: readonly string[],
    last: number,
    deliver: (rows: Notification[]) => void,
    stop: AbortSignal,
  ): Promise<void> {
    if (this.#closed) throw errors.shuttingDown();
    const waiter: Waiter = { channels, last, woken: false, rows: undefined, wake: undefined, hungUp: false };
    this.#followers.add(waiter);
    this.#add(waiter);
    const leave = () => {
      waiter.hungUp = true;
      waiter.wake?.();
    };
    stop.addEventListener('abort', leave, { once: true });
    try {
      let reason: FetchReason = 'initial';
      while (!this.#closed && !waiter.hungUp) {
        // Cleared before the fetch, so a wake-up heard while it runs makes the next round fetch again.
        waiter.woken = false;
        const handed = waiter.rows;
        waiter.rows = undefined;
        const rows = handed ?? (await this.fetch(channels, waiter.last, reason));
        if (this.#closed || waiter.hungUp) return;
        // All of a shared batch is fresh to a follower that was up to date: the same array for all, serialised once.
        const fresh = rows.every((r) => r.id > waiter.last) ? rows : rows.filter((r) => r.id > waiter.last);
        if (fresh.length > 0) {
          deliver(fresh);
          waiter.last = fresh[fresh.length - 1]?.id ?? waiter.last;
        }
        reason = 'wakeup';
        // A full page: the rest is already there, no wake-up will announce it.
        if (rows.length === FETCH_LIMIT) continue;
        await this.#sleep(waiter, MAX_TIMER_MS);
      }
    } finally {
      stop.removeEventListener('abort', leave);
      this.#followers.delete(waiter);
      this.#remove(waiter);
    }
  }

  fetch(channels: readonly string[], last: number, reason: FetchReason): Promise<Notification[]> {
    return this.#fetch(channels, last, reason);
  }

  /** Wakes the polls waiting on these channels (or all): a NOTIFY named them. */
  wake(channels: readonly string[] | 'all'): void {
    this.#heard++;
    if (channels === 'all') this.#heardAll = this.#heard;
    else for (const channel of channels) this.#heardOn.set(channel, this.#heard);
    const woken = new Set<Waiter>();
    if (channels === 'all') for (const w of this.#waiters) woken.add(w);
    else for (const channel of channels) for (const w of this.#byChannel.get(channel) ?? []) woken.add(w);
    if (woken.size === 0) return;
    this.#metrics.busWakeups.inc({ dispatch: this.#dispatch });
    this.#metrics.busWaitersWoken.inc({ dispatch: this.#dispatch }, woken.size);
    if (this.#dispatch === 'per-waiter') {
      for (const w of woken) this.#wakeWaiter(w);
      return;
    }
    for (const w of woken) this.#pending.add(w);
    void this.#sharedFetch();
  }

  /** After a lost LISTEN connection: anything may have been missed, so everyone fetches. */
  wakeAll(): void {
    this.wake('all');
  }

  /** Answers every parked poll (empty) and refuses new ones: graceful shutdown. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters) w.wake?.();
  }

  async #sharedFetch(): Promise<void> {
    if (this.#fetching) return;
    this.#fetching = true;
    try {
      while (this.#pending.size > 0 && !this.#closed) {
        const batch = [...this.#pending].filter((w) => this.#waiters.has(w));
        this.#pending = new Set();
        if (batch.length === 0) continue;
        const channels = [...new Set(batch.flatMap((w) => w.channels))];
        const last = Math.min(...batch.map((w) => w.last));
        let rows: Notification[];
        try {
          rows = await this.fetch(channels, last, 'wakeup');
        } catch (err) {
          // The waiters fall back to their own fetch rather than losing the wake-up.
          console.error(`[busbench] shared bus fetch failed: ${(err as Error).message}`);
          for (const w of batch) this.#wakeWaiter(w);
          continue;
        }
        const handed = performance.now();
        const cpu = process.cpuUsage();
        const since = Date.now() - busHistorySeconds(this.#config) * 1000;
        const truncated = rows.length === FETCH_LIMIT;
        // Waiters owed the same rows get the same array, which their answers serialise once (pollResponse).
        const slices = new Map<string, Notification[]>();
        for (const w of batch) {
          const wanted = new Set(w.channels);
          const owed = rows.filter(
            (r) => r.id > w.last && wanted.has(r.channel) && (w.last > 0 || r.created_at.getTime() > since),
          );
          const key = owed.length === rows.length ? '' : owed.map((r) => r.id).join(',');
          const mine = slices.get(key) ?? (owed.length === rows.length ? rows : owed);
          slices.set(key, mine);
          // The batch read from its lowest cursor; a waiter further ahead may find its rows
          // past the LIMIT, so it fetches on its own rather than sleeping on an empty slice.
          // A follower fetches on its own after any cut batch: a poll's client asks again from
          // its new cursor, a follower would otherwise sleep on the part it got.
          w.rows = truncated && (mine.length === 0 || this.#followers.has(w)) ? undefined : mine;
          this.#wakeWaiter(w);
        }
        // The woken polls answer and the sockets send in the microtasks that follow; an
        // immediate runs once all of them have written.
        setImmediate(() => {
          const used = process.cpuUsage(cpu);
          this.#metrics.busFanout.observe({ dispatch: this.#dispatch }, (performance.now() - handed) / 1000);
          this.#metrics.busFanoutCpu.inc({ dispatch: this.#dispatch }, (used.user + used.system) / 1e6);
        });
      }
    } finally {
      this.#fetching = false;
    }
  }

  #heardSince(channels: readonly string[], mark: number): boolean {
    return this.#heardAll > mark || channels.some((channel) => (this.#heardOn.get(channel) ?? 0) > mark);
  }

  #wakeWaiter(waiter: Waiter): void {
    waiter.woken = true;
    waiter.wake?.();
  }

  /** Resolves true when woken, false on timeout or shutdown. */
  #sleep(waiter: Waiter, ms: number): Promise<boolean> {
    if (waiter.woken) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiter.wake = undefined;
        resolve(false);
      }, ms);
      waiter.wake = () => {
        clearTimeout(timer);
        waiter.wake = undefined;
        resolve(!this.#closed && !waiter.hungUp);
      };
    });
  }

  #add(waiter: Waiter): void {
    this.#waiters.add(waiter);
    for (const channel of waiter.channels) {
      const set = this.#byChannel.get(channel) ?? new Set<Waiter>();
      this.#byChannel.set(channel, set);
      set.add(waiter);
    }
    this.#metrics.parkedPolls.set({ process: this.#metrics.process }, this.#waiters.size - this.#followers.size);
  }

  #remove(waiter: Waiter): void {
    this.#waiters.delete(waiter);
    this.#pending.delete(waiter);
    for (const channel of waiter.channels) {
      const set = this.#byChannel.get(channel);
      set?.delete(waiter);
      if (set?.size === 0) this.#byChannel.delete(channel);
    }
    this.#metrics.parkedPolls.set({ process: this.#metrics.process }, this.#waiters.size - this.#followers.size);
  }
}
