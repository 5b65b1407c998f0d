// What tabs and the shared worker say over their MessagePorts.
import type { BusNotification } from './bus-client.js';

export const SHARED_WORKER_URL = '/assets/shared-worker.js';

export type TabToWorker =
  /** A tab connects: the worker polls for its user's channels with this session. */
  | { type: 'hello'; userId: number; token: string; channels: string[]; busUrl: string; pollTimeout: number }
  /** The tab is going away (pagehide): stop sending to its port. */
  | { type: 'bye' };

export type WorkerToTab =
  /** The worker's cursor when the tab joined: what came before is history for that tab. */
  { type: 'welcome'; last: number } | { type: 'notifications'; notifications: BusNotification[] };
