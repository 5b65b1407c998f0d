// The long-poll loop against POST /bus/poll, as Odoo's web client ran it: send the `last`
// cursor, apply what comes back in id order exactly once, poll again. Tabs, the leader tab
// and the shared worker all use it (or its websocket twin, bus-socket.ts); only who runs it differs.

export interface BusNotification {
  id: number;
  channel: string;
  payload: unknown;
}

interface PollAnswer {
  notifications: BusNotification[];
  last: number;
}

const RETRY_MS = 1000;
/** Longer than the server's longest poll, so only a connection that hung is given up. */
const HUNG_POLL_GRACE_MS = 10_000;

/**
 * The cursor of whoever applies notifications: a tab, or the shared worker for its tabs.
 * An id at or below the cursor was applied already, so it is dropped and counted: a bus
 * that works never sends it twice.
 */
export class Inbox {
  last = 0;
  duplicates = 0;

  /** The notifications newer than the cursor, in id order; the cursor moves past them. */
  accept(notifications: readonly BusNotification[]): BusNotification[] {
    const fresh: BusNotification[] = [];
    for (const n of [...notifications].sort((a, b) => a.id - b.id)) {
      if (n.id <= this.last) {
        this.duplicates++;
        continue;
      }
      this.last = n.id;
      fresh.push(n);
    }
    return fresh;
  }

  /** A tab that joins late starts where the others are: what came before is history, not news. */
  skipTo(last: number): void {
    this.last = Math.max(this.last, last);
  }
}

export interface BusClientOptions {
  /** '' for the page's own origin; dedicated-longpoll's bus_url otherwise (the websocket's too). */
  busUrl: string;
  token: string;
  channels: readonly string[];
  /** Seconds the server may park a poll (GET /config's poll_timeout); polls only. */
  timeout: number;
  inbox: Inbox;
  onNotifications: (fresh: BusNotification[]) => void;
  /** Milliseconds to wait before the next poll; hidden tabs slow down. Polls only: a socket has none. */
  pause?: () => number;
}

/** Seed 000's fix for hidden tabs, as Odoo's client did it: 4 s + uniform(1, 20) s between polls. */
export function hiddenTabPauseMs(): number {
  return 4000 + 1000 + Math.random() * 19_000;
}

/** How whoever hears the bus for a tab runs it, whatever the transport (bus-transport.ts picks one). */
export interface BusConnection {
  /** Polls sent and not yet answered: 0 or 1; always 0 on a websocket. */
  readonly pollsInFlight: number;
  /** Resolves once the first poll is on its way, or the socket's subscribe is sent. */
  start(): Promise<void>;
  stop(): void;
  /** Goes on now instead of finishing a pause (a hidden tab shown again). */
  wake(): void;
  /** Listens to these channels from now on, from the same cursor. */
  setChannels(channels: readonly string[]): void;
}

export class BusClient implements BusConnection {
  readonly #options: BusClientOptions;
  #channels: readonly string[];
  #stopped = false;
  #inFlight = 0;
  #poll: AbortController | undefined;
  #cutPause: (() => void) | undefined;
  #resubscribe = false;

  constructor(options: BusClientOptions) {
    this.#options = options;
    this.#channels = options.channels;
  }

  get pollsInFlight(): number {
    return this.#inFlight;
  }

  start(): Promise<void> {
    return new Promise((sent) => void this.#loop(sent));
  }

  stop(): void {
    this.#stopped = true;
    this.#poll?.abort();
    this.#cutPause?.();
  }

  wake(): void {
    this.#cutPause?.();
  }

  /** The running poll is cut short so the new channels count at once. */
  setChannels(channels: readonly string[]): void {
    this.#channels = channels;
    this.#resubscribe = true;
    this.#poll?.abort();
  }

  async #loop(sent: () => void): Promise<void> {
    let pauseMs = 0;
    while (!this.#stopped) {
      if (pauseMs > 0) await this.#sleep(pauseMs);
      if (this.#stopped) break;
      const ok = await this.#pollOnce(sent);
      if (this.#resubscribe) {
        this.#resubscribe = false;
        pauseMs = 0;
      } else {
        pauseMs = ok ? (this.#options.pause?.() ?? 0) : RETRY_MS;
      }
    }
    sent();
  }

  async #pollOnce(sent: () => void): Promise<boolean> {
    const { busUrl, token, timeout, inbox } = this.#options;
    const poll = new AbortController();
    this.#poll = poll;
    const hung = setTimeout(() => poll.abort(), timeout * 1000 + HUNG_POLL_GRACE_MS);
    this.#inFlight++;
    try {
      const answer = fetch(`${busUrl}/bus/poll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ channels: this.#channels, last: inbox.last, options: { timeout } }),
        signal: poll.signal,
      });
      sent();
      const response = await answer;
      if (!response.ok) return false;
      const body = (await response.json()) as PollAnswer;
      if (this.#stopped) return false;
      const fresh = inbox.accept(body.notifications);
      if (fresh.length > 0) this.#options.onNotifications(fresh);
      return true;
    } catch {
      // Network failure, a hung poll, or stop()/setChannels() aborting it.
      return false;
    } finally {
      this.#inFlight--;
      clearTimeout(hung);
      this.#poll = undefined;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((done) => {
      const timer = setTimeout(done, ms);
      this.#cutPause = () => {
        clearTimeout(timer);
        done();
      };
    });
  }
}
