// Odoo 16's transport: one websocket on /websocket (src/app/websocket.ts; frames and close codes
// in the README's websocket section). It subscribes with the channels and the cursor's last id
// and applies what the server pushes through the same Inbox a poll's answers go through, so
// whoever holds it (a tab, the leader, the shared worker) fans out the same way as on polls.
// After any close it reconnects with backoff and subscribes again from the last id it applied:
// nothing is lost or repeated across a reconnect.
import type { BusClientOptions, BusConnection, BusNotification } from './bus-client.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;
/** Spreads the reconnects of many browsers after a server restart. */
const RETRY_JITTER_MS = 1000;

type ServerFrame =
  | { type: 'notifications'; notifications: BusNotification[] }
  | { type: 'error'; error: { code: string; message: string } };

/** http(s)://host -> ws(s)://host/websocket?token=...: browsers cannot set headers on a WebSocket. */
export function websocketUrl(busUrl: string, token: string): string {
  const url = new URL('/websocket', busUrl || location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);
  return url.href;
}

export class BusSocket implements BusConnection {
  /** A socket has no poll: the server pushes. */
  readonly pollsInFlight = 0;
  readonly #options: BusClientOptions;
  #channels: readonly string[];
  #socket: WebSocket | undefined;
  #stopped = false;
  #retryMs = FIRST_RETRY_MS;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #started: (() => void) | undefined;

  constructor(options: BusClientOptions) {
    this.#options = options;
    this.#channels = options.channels;
  }

  /** Opens the socket; resolves once its subscribe is sent, or once the first attempt failed. */
  start(): Promise<void> {
    return new Promise((started) => {
      this.#started = started;
      this.#connect();
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#drop();
    this.#ready();
  }

  /** Reconnects now instead of finishing a backoff pause. */
  wake(): void {
    if (this.#stopped || this.#socket) return;
    clearTimeout(this.#retry);
    this.#connect();
  }

  /**
   * A fresh socket, not a second subscribe on this one: frames the old subscription already
   * sent could cross the new one's replay from the same id and arrive twice.
   */
  setChannels(channels: readonly string[]): void {
    this.#channels = channels;
    if (this.#stopped) return;
    this.#drop();
    clearTimeout(this.#retry);
    this.#connect();
  }

  #connect(): void {
    const { busUrl, token, inbox, onNotifications } = this.#options;
    const ws = new WebSocket(websocketUrl(busUrl, token));
    this.#socket = ws;
    ws.onopen = () => {
      if (this.#socket !== ws) return;
      this.#retryMs = FIRST_RETRY_MS;
      // The cursor now, not when the socket was asked for: whatever came since is not asked twice.
      const data = { channels: [...this.#channels], last: inbox.last };
      ws.send(JSON.stringify({ event_name: 'subscribe', data }));
      this.#ready();
    };
    ws.onmessage = (event: MessageEvent<string>) => {
      if (this.#socket !== ws) return;
      const frame = JSON.parse(event.data) as ServerFrame;
      if (frame.type === 'notifications') {
        const fresh = inbox.accept(frame.notifications);
        if (fresh.length > 0) onNotifications(fresh);
        return;
      }
      // A refused subscribe (a busy layout, a presence conflict) leaves the socket without a
      // subscription: start over from the cursor after the backoff, as a failed poll does.
      this.#drop();
      this.#reconnectLater();
    };
    ws.onclose = () => {
      if (this.#socket !== ws) return;
      this.#socket = undefined;
      this.#ready();
      this.#reconnectLater();
    };
  }

  /** Forgets the socket first, so nothing it still delivers is applied. */
  #drop(): void {
    const ws = this.#socket;
    this.#socket = undefined;
    ws?.close(1000);
  }

  #reconnectLater(): void {
    if (this.#stopped) return;
    const delay = this.#retryMs + Math.random() * RETRY_JITTER_MS;
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  #ready(): void {
    this.#started?.();
    this.#started = undefined;
  }
}
