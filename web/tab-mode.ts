// What the page needs from a tab mode: who polls for this tab (itself, a leader tab or the
// shared worker) is the mode's business; the page only gets notifications, each once. The
// modes' names (TAB_MODES) are in tab-state.ts, where Node code can import them too.
import type { Api } from './api.js';
import type { BusNotification, Inbox } from './bus-client.js';
import type { TabTransportName } from './tab-state.js';

export interface TabModeDeps {
  /** The app's endpoints, logged in (POST /presence goes there). */
  api: Api;
  /** '' or dedicated-longpoll's bus_url. */
  busUrl: string;
  /** Long polls or a websocket; whoever hears the bus for the tab uses it. */
  transport: TabTransportName;
  userId: number;
  channels: readonly string[];
  pollTimeout: number;
  /** The tab's cursor: whatever the source, a notification is applied once. */
  inbox: Inbox;
  /** Called with notifications the inbox accepted, in id order. */
  deliver: (fresh: BusNotification[]) => void;
}

export interface TabMode {
  readonly isLeader: boolean;
  readonly leaderSince: number | null;
  readonly pollsInFlight: number;
  /** Resolves once the mode runs: first poll or subscribe sent, elected or following, or connected. */
  start(): Promise<void>;
  stop(): void;
}
