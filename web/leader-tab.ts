// Odoo 9-15: one tab per browser polls and shares every notification with the others. Odoo
// elected it with localStorage heartbeats; the Web Locks API does it without timers: the
// browser grants the lock to one tab and hands it to the next one when that tab closes.
//
// A browser is one user here, as a session cookie makes it in Odoo; messages name the user so
// a tab of another user never applies them. On the websocket transport the leader holds the
// browser's socket, and a new leader opens its own from the cursor every tab shares.
import type { BusConnection, BusNotification } from './bus-client.js';
import { connectBus } from './bus-transport.js';
import { startPresenceBeacon } from './presence-beacon.js';
import type { TabMode, TabModeDeps } from './tab-mode.js';

const LOCK = 'busbench-bus-leader';
const CHANNEL = 'busbench-bus';
/** A leader hidden this long hands over to a visible tab, if one is waiting. */
const HIDDEN_LEADER_MS = 30_000;
const TICK_MS = 500;

type LeaderMessage =
  | { type: 'notifications'; userId: number; notifications: BusNotification[] }
  /** A tab opened: the leader answers with its cursor. */
  | { type: 'hello'; userId: number }
  | { type: 'cursor'; userId: number; last: number };

export class LeaderTab implements TabMode {
  readonly #deps: TabModeDeps;
  readonly #channel = new BroadcastChannel(CHANNEL);
  #leaderSince: number | null = null;
  #client: BusConnection | undefined;
  #stopBeacon: (() => void) | undefined;
  #release: (() => void) | undefined;
  /** A visible follower's waiting lock request. */
  #queued: AbortController | undefined;
  #hiddenSince: number | null = null;
  #tick: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #checking = false;

  constructor(deps: TabModeDeps) {
    this.#deps = deps;
  }

  get isLeader(): boolean {
    return this.#leaderSince !== null;
  }

  get leaderSince(): number | null {
    return this.#leaderSince;
  }

  get pollsInFlight(): number {
    return this.#client?.pollsInFlight ?? 0;
  }

  async start(): Promise<void> {
    this.#channel.onmessage = (event: MessageEvent<LeaderMessage>) => this.#onMessage(event.data);
    this.#send({ type: 'hello', userId: this.#deps.userId });
    this.#hiddenSince = document.hidden ? Date.now() : null;
    document.addEventListener('visibilitychange', this.#onVisibility);
    this.#tick = setInterval(() => void this.#onTick(), TICK_MS);
    if (!(await this.#leadIfVacant())) this.#queueIfVisible();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#tick);
    document.removeEventListener('visibilitychange', this.#onVisibility);
    this.#withdraw();
    this.#resign();
    this.#channel.close();
  }

  #send(message: LeaderMessage): void {
    this.#channel.postMessage(message);
  }

  #onMessage(message: LeaderMessage): void {
    if (message.userId !== this.#deps.userId) return;
    switch (message.type) {
      case 'notifications': {
        // Also reaches a new leader when the old one's last words cross its takeover.
        const fresh = this.#deps.inbox.accept(message.notifications);
        if (fresh.length > 0) this.#deps.deliver(fresh);
        break;
      }
      case 'hello':
        if (this.isLeader) this.#send({ type: 'cursor', userId: this.#deps.userId, last: this.#deps.inbox.last });
        break;
      case 'cursor':
        this.#deps.inbox.skipTo(message.last);
        break;
    }
  }

  /** Takes the lock only if nobody holds it; true when this tab now leads. */
  #leadIfVacant(): Promise<boolean> {
    return new Promise((known) => {
      navigator.locks
        .request(LOCK, { ifAvailable: true }, (lock) => {
          known(lock !== null);
          return lock ? this.#lead() : undefined;
        })
        .catch(() => known(false));
    });
  }

  /**
   * Only visible tabs wait in the lock's queue, so a closing leader is replaced at once by a
   * tab someone looks at; hidden followers look for a vacant lock on each tick instead.
   */
  #queueIfVisible(): void {
    if (this.#stopped || document.hidden || this.isLeader || this.#queued) return;
    const queued = new AbortController();
    this.#queued = queued;
    navigator.locks
      .request(LOCK, { signal: queued.signal }, () => {
        this.#queued = undefined;
        return this.#lead();
      })
      .catch(() => undefined); // AbortError: withdrawn when the tab was hidden
  }

  #withdraw(): void {
    this.#queued?.abort();
    this.#queued = undefined;
  }

  /** Hears the bus for every tab until it resigns; the returned promise holds the lock till then. */
  #lead(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#withdraw();
    const { api, busUrl, transport, userId, channels, pollTimeout, inbox, deliver } = this.#deps;
    this.#leaderSince = Date.now();
    this.#client = connectBus(transport, {
      busUrl,
      token: api.token,
      channels,
      timeout: pollTimeout,
      inbox,
      onNotifications: (fresh) => {
        this.#send({ type: 'notifications', userId, notifications: fresh });
        deliver(fresh);
      },
    });
    void this.#client.start();
    this.#stopBeacon = startPresenceBeacon(api, () => (document.hidden ? 'away' : 'online'));
    return new Promise((release) => {
      this.#release = release;
    });
  }

  /** The next tab resumes from the same cursor: everything this one applied, it broadcast. */
  #resign(): void {
    if (!this.isLeader) return;
    this.#client?.stop();
    this.#stopBeacon?.();
    this.#client = undefined;
    this.#stopBeacon = undefined;
    this.#leaderSince = null;
    this.#release?.();
    this.#release = undefined;
  }

  readonly #onVisibility = () => {
    if (document.hidden) {
      this.#hiddenSince = Date.now();
      this.#withdraw();
    } else {
      this.#hiddenSince = null;
      this.#queueIfVisible();
    }
  };

  async #onTick(): Promise<void> {
    if (this.#stopped || this.#checking || this.#hiddenSince === null) return;
    this.#checking = true;
    try {
      if (!this.isLeader) {
        await this.#leadIfVacant();
      } else if (Date.now() - this.#hiddenSince > HIDDEN_LEADER_MS) {
        const { pending = [] } = await navigator.locks.query();
        if (pending.some((lock) => lock.name === LOCK) && this.isLeader) this.#resign();
      }
    } finally {
      this.#checking = false;
    }
  }
}
