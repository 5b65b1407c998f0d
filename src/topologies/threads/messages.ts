// What the main thread and the request threads of worker-threads say to each other.
import type { MetricsJson } from '../../app/metrics.js';

export const THREAD_CHANNEL = 'busbench:threads';

export type ThreadCommand =
  | { type: 'wake'; channels: string[] | 'all' }
  | { type: 'collect'; id: number }
  | { type: 'stop-polls' }
  | { type: 'close'; id: number };

export type ThreadReply =
  | { type: 'metrics'; id: number; metrics: MetricsJson }
  | { type: 'closed'; id: number }
  /** Sent once by each thread when its stack is built; id 0 as nobody asked. */
  | { type: 'ready'; id: 0 };
