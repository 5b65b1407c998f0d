// The test hooks on window.busbench: what a tab has applied and how it takes part in the bus.
// Chromium tests and `busbench bench --browser` read them with playwright's page.evaluate.
// No DOM types here, so Node code can import the type.

export interface ReceivedMessage {
  busId: number;
  messageId: number;
  channelId: number;
  clientId: string | null;
}

export interface BusbenchTabState {
  /** Logged in, channels loaded, the mode started (first poll sent, elected or following, or connected). */
  ready: boolean;
  mode: 'every-tab' | 'leader' | 'shared-worker';
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
