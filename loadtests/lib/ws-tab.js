// Websocket tabs (Odoo 16+ bus, the /websocket protocol), written once for both engines like
// tab.js, whose Browser they extend: login, channels, posting over HTTP and the delivery
// bookkeeping stay its own. Only how notifications arrive changes: a socket subscribes with
// the channels and the last id, the server pushes, and a socket that closes reconnects and
// resubscribes from the last id it applied, so nothing is lost or repeated across reconnects.
// Plain JavaScript that k6 v0.46 parses (see loadtests/README.md).
import { Browser, parseClientId } from './tab.js';

/**
 * @typedef {object} SocketEvents What the engine's socket reports.
 * @property {() => void} open
 * @property {(text: string) => void} message One text frame.
 * @property {(code: number) => void} close Also after a failed upgrade (code 1006), once.
 *
 * @typedef {object} Socket
 * @property {(text: string) => void} send
 * @property {() => void} close
 *
 * @typedef {import('./tab.js').Transport & { connect: (url: string, events: SocketEvents) => Socket }} SocketTransport
 *   The engine's network with websockets: `ws` in the Node runner, k6/websockets in k6.
 *
 * @typedef {import('./tab.js').BrowserOptions & { transport: SocketTransport, presenceInterval: number }} SocketBrowserOptions
 *   presenceInterval: seconds between a socket's update_presence frames.
 */

/** The bus transports a simulated browser can use. */
export const BUS_TRANSPORTS = /** @type {const} */ (['longpoll', 'websocket']);
/** @typedef {(typeof BUS_TRANSPORTS)[number]} BusTransport */

/** How long a socket waits after it closed before it reconnects (tab.js's retry delay). */
const RECONNECT_DELAY_MS = 1000;
const PRESENCE_STEP_MS = 1000;

/**
 * The websocket URL of a bus origin: http(s)://host -> ws(s)://host/websocket?token=...
 * (browsers cannot set headers on a WebSocket, so the token rides in the query).
 * @param {string} busUrl @param {string} token
 */
export function websocketUrl(busUrl, token) {
  return `${busUrl.replace(/^http/, 'ws')}/websocket?token=${encodeURIComponent(token)}`;
}

/**
 * A browser whose tabs hear the bus over websockets. every-tab: one socket per tab, each
 * subscribing to the browser's channels. leader and shared-worker: one socket per browser
 * (Odoo 16's SharedWorker), whose notifications every tab applies, in the order they came.
 * Hidden tabs change nothing: a socket waits for pushes and has no poll to slow down.
 */
export class SocketBrowser extends Browser {
  /** @param {SocketBrowserOptions} options */
  constructor(options) {
    super(options);
    this.sockets = options.transport;
    this.presenceMs = Math.max(1, options.presenceInterval) * 1000;
    /** @type {Set<Socket>} */
    this.live = new Set();
  }

  /** Starts the socket loops: every tab's, or the browser's one. @override */
  start() {
    if (this.options.tabMode === 'every-tab') {
      for (const tab of this.tabs) this.loops.push(this.socketLoop([tab]));
    } else {
      this.loops.push(this.socketLoop(this.tabs));
    }
  }

  /**
   * One socket, reconnected until the browser stops, its notifications applied by `receivers`.
   * @param {import('./tab.js').Tab[]} receivers
   */
  async socketLoop(receivers) {
    const t = this.transport;
    let last = 0;
    while (!this.stopped) {
      await this.connectOnce(receivers, last, (id) => {
        last = Math.max(last, id);
      });
      if (!this.stopped) await this.waker.sleep(t, RECONNECT_DELAY_MS);
    }
  }

  /**
   * Opens the socket, subscribes from `last`, applies what comes until it closes.
   * @param {import('./tab.js').Tab[]} receivers @param {number} last @param {(id: number) => void} advance
   * @returns {Promise<void>} Resolves when the socket has closed.
   */
  connectOnce(receivers, last, advance) {
    const t = this.sockets;
    const o = this.options;
    return new Promise((resolve) => {
      let closed = false;
      const socket = t.connect(websocketUrl(o.busUrl, this.token), {
        open: () => {
          if (this.stopped) {
            socket.close();
            return;
          }
          const sentAt = t.now();
          for (const receiver of receivers) if (receiver.startedAt === 0) receiver.startedAt = sentAt;
          socket.send(JSON.stringify({ event_name: 'subscribe', data: { channels: this.channels, last } }));
          this.presenceLoop(socket, () => closed);
        },
        message: (text) => {
          const frame = parseFrame(text);
          // A refused subscribe (a busy layout's 503) leaves the socket open and unsubscribed.
          // Resubscribing on it could race the old subscription's pushes into duplicates, so
          // the tab starts over: close, reconnect, subscribe from the last id it applied.
          if (frame.type === 'error') {
            socket.close();
            return;
          }
          if (frame.type !== 'notifications' || !Array.isArray(frame.notifications)) return;
          // No onPoll: a pushed frame is not a poll, and the poll counters must not count it.
          for (const n of frame.notifications) {
            for (const receiver of receivers) {
              receiver.apply(n);
              provenUpTo(receiver, n, o.runTag);
            }
            if (typeof n.id === 'number') advance(n.id);
          }
        },
        close: () => {
          if (closed) return;
          closed = true;
          this.live.delete(socket);
          resolve(undefined);
        },
      });
      this.live.add(socket);
    });
  }

  /**
   * update_presence every presence interval while the socket is open, as 16.0's client sends
   * it (at most every 60 s); the subscribe itself wrote presence once. Sleeps in steps of at
   * most a second, so a closed socket leaves no long timer behind (k6 waits for timers).
   * @param {Socket} socket @param {() => boolean} isClosed
   */
  async presenceLoop(socket, isClosed) {
    const t = this.transport;
    for (;;) {
      const due = t.now() + this.presenceMs;
      while (t.now() < due) {
        await t.sleep(Math.min(PRESENCE_STEP_MS, due - t.now()));
        if (isClosed() || this.stopped) return;
      }
      socket.send(JSON.stringify({ event_name: 'update_presence', data: { status: 'online' } }));
    }
  }

  /** Ends the loops: open sockets are closed, a reconnect waiting is woken and not made. @override */
  stop() {
    this.stopped = true;
    for (const socket of Array.from(this.live)) socket.close();
    return super.stop();
  }
}

/**
 * The delivery check's proof for a socket tab (delivery.js reads it as polledAt): a post due
 * at d was sent at or after d, so every post acknowledged before d has a smaller bus id; the
 * server pushes a socket's notifications in id order, so once this one arrived those must
 * have too. A tab that misses one of them has a cursor past it: lost, not late.
 * @param {import('./tab.js').Tab} tab @param {{ payload?: any }} n @param {string} runTag
 */
function provenUpTo(tab, n, runTag) {
  const message = n.payload && n.payload.type === 'message' ? n.payload.message : undefined;
  const post = message ? parseClientId(message.client_id, runTag) : undefined;
  if (post) tab.polledAt = Math.max(tab.polledAt, post.due);
}

/** @param {string} text @returns {any} A frame that is not a JSON object reads as {}. */
function parseFrame(text) {
  try {
    const frame = JSON.parse(text);
    return typeof frame === 'object' && frame !== null ? frame : {};
  } catch (_) {
    return {};
  }
}
