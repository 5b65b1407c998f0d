// The test hooks on window.busbench: what a tab has applied and how it takes part in the bus.
// Chromium tests and `busbench bench --browser` read them with playwright's page.evaluate.
// No DOM types here, so Node code can import it: the tab modes' names are the page's and the
// bench's vocabulary (`?mode=`, `--browser-modes`; the simulated tabs implement every-tab and leader),
// and so are the transports' (`?transport=`, the bench's `--transport`).

/** How the tabs of one browser share the bus: each polls (Odoo 8), one elected tab (9-15), a SharedWorker (16+). */
export const TAB_MODES = ['every-tab', 'leader', 'shared-worker'] as const;
export type TabModeName = (typeof TAB_MODES)[number];

/** How notifications reach the tabs: long polls (POST /bus/poll) or a websocket (/websocket, Odoo 16+). */
export const TAB_TRANSPORTS = ['longpoll', 'websocket'] as const;
export type TabTransportName = (typeof TAB_TRANSPORTS)[number];

export interface ReceivedMessage {
  busId: number;
  messageId: number;
  channelId: number;
  clientId: string | null;
}

export interface BusbenchTabState {
  /** Logged in, channels loaded, the mode started (first poll sent, elected or following, or connected). */
  ready: boolean;
  mode: TabModeName;
  /** longpoll, or websocket: every-tab tabs each hold a socket, the leader or the shared worker one per browser. */
  transport: TabTransportName;
  /** leader: holds the lock and polls; every-tab: true; shared-worker: false. */
  isLeader: boolean;
  /** Date.now() when this tab became leader (leader mode), else null. */
  leaderSince: number | null;
  userId: number;
  /** Highest bus notification id applied in this tab. */
  last: number;
  /** Every chat-message notification applied in this tab, in order. */
  received: ReceivedMessage[];
  /** Notifications that arrived again after being applied (must stay 0). */
  duplicates: number;
  /** Polls this tab has started and not yet seen answered (every-tab / leader); 0 in shared-worker tabs. */
  pollsInFlight: number;
  /** HTTP status of POST /channels/:id/messages. */
  post(channelId: number, body: string, clientId?: string): Promise<number>;
}
