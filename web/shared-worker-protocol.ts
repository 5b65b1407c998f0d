// What tabs and the shared worker say over their MessagePorts.
import type { BusNotification } from './bus-client.js';
import type { TabTransportName } from './tab-state.js';

export const SHARED_WORKER_URL = '/assets/shared-worker.js';

export type TabToWorker =
  /** A tab connects: the worker hears the bus for its user's channels with this session, on this transport. */
  | {
      type: 'hello';
      userId: number;
      token: string;
      channels: string[];
      busUrl: string;
      transport: TabTransportName;
      pollTimeout: number;
    }
  /** The tab is going away (pagehide): stop sending to its port. */
  | { type: 'bye' };

export type WorkerToTab =
  /** The worker's cursor when the tab joined: what came before is history for that tab. */
  { type: 'welcome'; last: number } | { type: 'notifications'; notifications: BusNotification[] };
