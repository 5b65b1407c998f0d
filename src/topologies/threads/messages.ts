// What the main thread and the request threads of worker-threads say to each other.
import type { AppRequest } from '../../app/app.js';
import type { MetricsJson } from '../../app/metrics.js';

export const THREAD_CHANNEL = 'busbench:threads';

/** One request for a thread; `id` names it in a later hang-up. */
export interface ThreadTask {
  id: number;
  request: AppRequest;
}

export type ThreadCommand =
  | { type: 'wake'; channels: string[] | 'all' }
  /** The client of task `id` closed its connection: whichever thread runs it stops its poll. */
  | { type: 'hang-up'; id: number }
  | { type: 'collect'; id: number }
  | { type: 'stop-polls' }
  | { type: 'close'; id: number };

export type ThreadReply =
  | { type: 'metrics'; id: number; metrics: MetricsJson }
  | { type: 'closed'; id: number }
  /** Sent once by each thread when its stack is built; id 0 as nobody asked. */
  | { type: 'ready'; id: 0 };
