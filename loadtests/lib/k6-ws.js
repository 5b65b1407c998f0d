// Websocket tabs on k6: K6Transport (HTTP through the browser's capped pool) plus the
// `connect` that ws-tab.js asks for. k6 v0.46 has the module as k6/experimental/websockets;
// later k6 versions name it k6/websockets (and drop the experimental one). Both implement the
// same subset of the WebSocket living standard, which is all this file uses: whichever this
// k6 has is taken, the names in variables so that nothing resolves a missing one statically.
import { statusKey } from './k6-summary.js';
import { K6Transport } from './k6-transport.js';

const STABLE = 'k6/websockets';
const EXPERIMENTAL = 'k6/experimental/websockets';

/** @returns {{ WebSocket: any }} */
function websockets() {
  try {
    return /** @type {any} */ (require(STABLE));
  } catch (_) {
    return /** @type {any} */ (require(EXPERIMENTAL));
  }
}
// Module scope: k6 allows require() in the init context only.
const { WebSocket } = websockets();

export class K6SocketTransport extends K6Transport {
  /**
   * @param {string} url
   * @param {import('./ws-tab.js').SocketEvents} events
   * @returns {import('./ws-tab.js').Socket}
   */
  connect(url, events) {
    let opened = false;
    let closed = false;
    const ws = new WebSocket(url, null, { tags: { endpoint: 'bus.websocket', name: 'bus.websocket' } });
    /** @param {number} status */
    const record = (status) => {
      const at = Date.now();
      if (this.inMeasure(at)) this.metrics.requests.add(1, { endpoint: 'bus.websocket', status: statusKey(status) });
    };
    /** @param {number} code */
    const finish = (code) => {
      if (closed) return;
      closed = true;
      // A socket that never opened is a failed upgrade: no answer the script can read (status 0).
      if (!opened) record(0);
      events.close(code);
    };
    ws.onopen = () => {
      opened = true;
      record(101);
      events.open();
    };
    ws.onmessage = (/** @type {{ data: unknown }} */ e) => {
      if (typeof e.data === 'string') events.message(e.data);
    };
    ws.onclose = (/** @type {unknown} */ e) => finish(closeCode(e));
    ws.onerror = () => finish(1006);
    return {
      // Tracked here rather than read from readyState, which k6 v0.46 hands out as an object, not a number.
      send: (text) => {
        if (opened && !closed) ws.send(text);
      },
      close: () => {
        if (closed) return;
        try {
          ws.close();
        } catch (_) {
          // Still connecting: k6 drops it when the iteration ends.
        }
        // Once closed by us, nothing more is this tab's; k6 may not report the close afterwards.
        finish(1000);
      },
    };
  }
}

/**
 * The close event's code where this k6 reports one; 1006 (no close frame) where it does not.
 * @param {unknown} event
 */
function closeCode(event) {
  const code = typeof event === 'object' && event !== null ? /** @type {{ code?: unknown }} */ (event).code : undefined;
  return typeof code === 'number' && code > 0 ? code : 1006;
}
