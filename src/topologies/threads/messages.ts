// What the main thread and the request threads of worker-threads say to each other: tasks
// (piscina's run() and its result) and commands over one BroadcastChannel.
import type { AppRequest, AppResponse, PollWait, SocketAnswer, SocketCall } from '../../app/app.js';
import type { FetchReason, Notification } from '../../app/bus.js';
import type { MetricsJson } from '../../app/metrics.js';
import type { HttpErrorCode } from '../../lib/errors.js';

export const THREAD_CHANNEL = 'busbench:threads';

/**
 * A request for a thread (`id` names it in a later hang-up), or a bus fetch that the main
 * thread's dispatcher needs run on a pool (it holds none).
 */
export type ThreadTask =
  | { type: 'request'; id: number; request: AppRequest }
  | { type: 'fetch'; channels: string[]; last: number; reason: FetchReason }
  /** A websocket frame's database work; the socket itself stays in the main thread. */
  | { type: 'socket'; call: SocketCall };

export type TaskResult =
  | { type: 'answer'; response: AppResponse }
  /** The request is a poll, done up to parking: the main thread's dispatcher waits for it. */
  | { type: 'park'; wait: PollWait }
  | { type: 'rows'; rows: Notification[] }
  | { type: 'socket'; answer: SocketAnswer }
  /** A fetch failed with this error; the dispatcher answers the poll with it. */
  | { type: 'failed'; error: { code: HttpErrorCode; message: string; field: string | undefined } };

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
