// Odoo 16's presence: only the tab (or worker) that polls for the browser reports the user,
// at most once a minute, instead of every tab's every poll rewriting the same row.
import type { Api } from './api.js';

export const PRESENCE_INTERVAL_MS = 60_000;

/** Sends POST /presence now and every minute until the returned stop() is called. */
export function startPresenceBeacon(api: Api, status: () => 'online' | 'away' = () => 'online'): () => void {
  const send = () => {
    // A lost beat is harmless: the next one comes within a minute, and polls record presence too.
    api.send('POST', '/presence', { status: status() }).catch(() => undefined);
  };
  send();
  const timer = setInterval(send, PRESENCE_INTERVAL_MS);
  return () => clearInterval(timer);
}
