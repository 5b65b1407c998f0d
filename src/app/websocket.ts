// The /websocket transport (Odoo 16+ addons/bus/websocket.py), written once for every layout.
// A socket is a bus waiter that never leaves (Bus.follow): it subscribes with its channels and
// last id, gets everything newer at once, then every notification as it is heard, from the
// same bus, ids and wake-ups as a parked poll, in either dispatch mode. Its database work (the
// subscribe's checks and presence write, update_presence) is the poll's, run wherever the
// layout runs the App (`SocketHost.call`): this module knows nothing of processes or threads.
// The frames and close codes are in the README's websocket section.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { HttpError } from '../lib/errors.js';
import { notificationsJson, type SocketAnswer, type SocketCall } from './app.js';
import type { Bus, Notification } from './bus.js';
import type { Metrics } from './metrics.js';

/** Odoo's limit on one message, and the ws frame limit past which it closes with 1009. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Odoo's rate limit: the 11th frame within RATE_WINDOW_MS of the 10 before it closes the socket with 1013. */
export const RATE_BURST = 10;
export const RATE_WINDOW_MS = 2000;

export const CLOSE = {
  /** Server shutting down (going away). */
  shutdown: 1001,
  /** A binary frame, a frame that is not JSON, or an unknown event_name. */
  unsupported: 1003,
  /** No close frame: the socket ended without one (a ping unanswered, a peer gone). */
  abnormal: 1006,
  tooLarge: 1009,
  /** A database fault this socket cannot recover from; the client reconnects and resumes from its last id. */
  fault: 1011,
  rateLimited: 1013,
} as const;

/** How long a socket closed by the server has to answer its close frame before it is cut. */
const CLOSE_GRACE_MS = 1000;

export interface SocketHost {
  /** Runs a frame's database work where the layout runs the App (a request thread in worker-threads). */
  call(call: SocketCall): Promise<SocketAnswer>;
  bus: Pick<Bus, 'follow'>;
}

export interface WebSocketEndpointOptions {
  host: SocketHost;
  metrics: Metrics;
  /** --ws-ping-interval in ms; 0: never ping. */
  pingIntervalMs: number;
}

export interface WebSocketEndpoint {
  /** Completes an upgrade the App accepted; `authorization` is the session the socket's frames act as. */
  accept(req: http.IncomingMessage, socket: Duplex, head: Buffer, authorization: string): void;
  /** Closes every socket with 1001 and waits (CLOSE_GRACE_MS at most) for them to go. */
  close(): Promise<void>;
}

export function createWebSocketEndpoint(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const { metrics } = options;
  const processLabel = { process: metrics.process };
  // The ws default (100 MiB) would buffer a huge frame before anyone could refuse it.
  const server = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  const sessions = new Set<Session>();
  let closing = false;

  return {
    accept(req, socket, head, authorization) {
      server.handleUpgrade(req, socket, head, (ws) => {
        const session = new Session(ws, authorization, options);
        sessions.add(session);
        metrics.wsOpenSockets.inc(processLabel);
        ws.once('close', () => {
          sessions.delete(session);
          metrics.wsOpenSockets.dec(processLabel);
        });
        if (closing) session.close(CLOSE.shutdown, 'server shutting down');
      });
    },
    async close() {
      closing = true;
      const gone = [...sessions].map((s) => s.closed);
      for (const s of sessions) s.close(CLOSE.shutdown, 'server shutting down');
      await Promise.all(gone);
    },
  };
}

/** ws's own refusals (it sends the close frame itself) by their error code. */
function closeCodeOf(err: Error): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return CLOSE.tooLarge;
  if (code === 'WS_ERR_INVALID_UTF8') return 1007;
  return 1002;
}

class Session {
  readonly #ws: WebSocket;
  readonly #authorization: string;
  readonly #host: SocketHost;
  readonly #metrics: Metrics;
  readonly #pingIntervalMs: number;
  /** Frames run one after another, as Odoo's socket reads them in order. */
  #queue: Promise<void> = Promise.resolve();
  /** When each of the last RATE_BURST frames arrived. */
  readonly #arrivals: number[] = [];
  #subscription: { stop: AbortController; done: Promise<void> } | undefined;
  /** The code this side closed with, which the close counter reports. */
  #sentCode: number | undefined;
  #idle: NodeJS.Timeout | undefined;
  #pinged = false;
  readonly closed: Promise<void>;

  constructor(ws: WebSocket, authorization: string, options: WebSocketEndpointOptions) {
    this.#ws = ws;
    this.#authorization = authorization;
    this.#host = options.host;
    this.#metrics = options.metrics;
    this.#pingIntervalMs = options.pingIntervalMs;
    this.closed = new Promise((done) => {
      ws.once('close', (code) => {
        clearTimeout(this.#idle);
        this.#subscription?.stop.abort();
        this.#metrics.wsCloses.inc({ code: String(this.#sentCode ?? code) });
        done();
      });
    });
    ws.on('message', (data, isBinary) => this.#received(data, isBinary));
    ws.on('pong', () => this.#heard());
    ws.on('error', (err) => {
      this.#sentCode ??= closeCodeOf(err);
    });
    if (this.#pingIntervalMs > 0) {
      this.#idle = setTimeout(() => this.#idleFor(), this.#pingIntervalMs);
      this.#idle.unref();
    }
  }

  /** Sends a close frame; a peer that does not answer it within CLOSE_GRACE_MS is cut. */
  close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.CLOSED) return;
    this.#sentCode ??= code;
    this.#ws.close(code, reason);
    const cut = setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS);
    cut.unref();
    this.#ws.once('close', () => clearTimeout(cut));
  }

  /** Anything from the client (a frame, a pong) shows it is there: the idle clock starts again. */
  #heard(): void {
    this.#pinged = false;
    this.#idle?.refresh();
  }

  #idleFor(): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    if (this.#pinged) {
      this.#sentCode ??= CLOSE.abnormal;
      this.#ws.terminate();
      return;
    }
    this.#pinged = true;
    this.#metrics.wsPings.inc();
    this.#ws.ping();
    this.#idle?.refresh();
  }

  #received(data: RawData, isBinary: boolean): void {
    this.#metrics.wsFrames.inc({ direction: 'in' });
    this.#heard();
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    const now = Date.now();
    if (this.#arrivals.length === RATE_BURST && now - (this.#arrivals[0] ?? 0) < RATE_WINDOW_MS) {
      this.close(CLOSE.rateLimited, `more than ${RATE_BURST} frames within ${RATE_WINDOW_MS / 1000} s`);
      return;
    }
    this.#arrivals.push(now);
    if (this.#arrivals.length > RATE_BURST) this.#arrivals.shift();
    if (isBinary) {
      this.close(CLOSE.unsupported, 'frames must be JSON text');
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      this.close(CLOSE.unsupported, 'frames must be JSON text');
      return;
    }
    const { event_name: event, data: payload } =
      typeof frame === 'object' && frame !== null ? (frame as { event_name?: unknown; data?: unknown }) : {};
    if (event !== 'subscribe' && event !== 'update_presence') {
      this.close(CLOSE.unsupported, 'event_name must be subscribe or update_presence');
      return;
    }
    const op = event === 'subscribe' ? 'subscribe' : 'presence';
    this.#queue = this.#queue
      .then(() => this.#run(op, payload))
      .catch((err: unknown) => {
        console.error(`[busbench] websocket ${op} failed:`, err);
        this.close(CLOSE.fault, 'server error; reconnect and resubscribe from your last id');
      });
  }

  async #run(op: SocketCall['op'], data: unknown): Promise<void> {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    let answer: SocketAnswer;
    try {
      answer = await this.#host.call({ op, authorization: this.#authorization, data });
    } catch (err) {
      // A refusal on the way (worker-threads: every thread busy, a thread lost) changes nothing, like a bad frame.
      if (err instanceof HttpError) {
        this.#send({ type: 'error', error: err.toJSON().error });
        return;
      }
      console.error(`[busbench] websocket ${op} failed:`, err);
      this.close(CLOSE.fault, 'server error; reconnect and resubscribe from your last id');
      return;
    }
    if ('error' in answer) {
      this.#send({ type: 'error', error: answer.error });
      return;
    }
    if ('channels' in answer) await this.#subscribe(answer.channels, answer.last);
  }

  /** Replaces the subscription: the old one stops before the new one's first fetch. */
  async #subscribe(channels: string[], last: number): Promise<void> {
    const previous = this.#subscription;
    if (previous) {
      previous.stop.abort();
      await previous.done;
    }
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#metrics.wsSubscriptions.inc();
    const stop = new AbortController();
    const deliver = (rows: Notification[]) =>
      this.#sendText(`{"type":"notifications","notifications":${notificationsJson(rows)}}`);
    const done = this.#host.bus.follow(channels, last, deliver, stop.signal).then(
      () => {
        // The bus closed under it (shutdown) rather than a resubscribe or a hang-up stopping it.
        if (!stop.signal.aborted) this.close(CLOSE.shutdown, 'server shutting down');
      },
      (err: Error) => {
        if (stop.signal.aborted) return;
        if (err instanceof HttpError && err.code === 'E_SHUTTING_DOWN') {
          this.close(CLOSE.shutdown, 'server shutting down');
          return;
        }
        console.error(`[busbench] websocket subscription failed: ${err.message}`);
        this.close(CLOSE.fault, 'server error; reconnect and resubscribe from your last id');
      },
    );
    this.#subscription = { stop, done };
  }

  #send(frame: unknown): void {
    this.#sendText(JSON.stringify(frame));
  }

  #sendText(text: string): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#metrics.wsFrames.inc({ direction: 'out' });
    this.#ws.send(text);
  }
}
