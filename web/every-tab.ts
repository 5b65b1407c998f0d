// Odoo 8: every tab long-polls for itself. A hidden tab pauses between polls (seed 000's fix)
// and polls at once when it is shown again. On the websocket transport each tab holds its own
// socket (no Odoo did that; the simulated every-tab websocket tabs do) and its presence is what
// each subscribe writes.
import { type BusConnection, hiddenTabPauseMs } from './bus-client.js';
import { connectBus } from './bus-transport.js';
import type { TabMode, TabModeDeps } from './tab-mode.js';

export class EveryTab implements TabMode {
  readonly isLeader = true;
  readonly leaderSince = null;
  readonly #client: BusConnection;
  readonly #onVisibility = () => {
    if (!document.hidden) this.#client.wake();
  };

  constructor(deps: TabModeDeps) {
    this.#client = connectBus(deps.transport, {
      busUrl: deps.busUrl,
      token: deps.api.token,
      channels: deps.channels,
      timeout: deps.pollTimeout,
      inbox: deps.inbox,
      onNotifications: deps.deliver,
      pause: () => (document.hidden ? hiddenTabPauseMs() : 0),
    });
  }

  get pollsInFlight(): number {
    return this.#client.pollsInFlight;
  }

  start(): Promise<void> {
    document.addEventListener('visibilitychange', this.#onVisibility);
    return this.#client.start();
  }

  stop(): void {
    document.removeEventListener('visibilitychange', this.#onVisibility);
    this.#client.stop();
  }
}
