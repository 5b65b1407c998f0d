// Odoo 16+: a SharedWorker holds the browser's single poll, or its single websocket as Odoo 16
// does, and fans notifications out to every tab over its MessagePort. The browser keeps the
// worker alive while any tab is connected, so it hears the bus exactly as long as some tab is open.
import { Api } from './api.js';
import { type BusConnection, Inbox } from './bus-client.js';
import { connectBus } from './bus-transport.js';
import { startPresenceBeacon } from './presence-beacon.js';
import type { TabToWorker, WorkerToTab } from './shared-worker-protocol.js';

// Worker-scope globals, typed here so the rest of web/ keeps the DOM library only.
declare const self: { onconnect: ((event: MessageEvent) => void) | null };

/** One poll or socket per user and transport: tabs of another user in the same browser get their own. */
interface Subscription {
  inbox: Inbox;
  client: BusConnection;
  channels: Set<string>;
  ports: Set<MessagePort>;
  stopBeacon: () => void;
}

type Hello = Extract<TabToWorker, { type: 'hello' }>;

const subscriptions = new Map<string, Subscription>();

function keyOf(hello: Hello): string {
  return `${hello.userId} ${hello.transport}`;
}

function tell(port: MessagePort, message: WorkerToTab): void {
  port.postMessage(message);
}

function subscribe(hello: Hello): Subscription {
  const inbox = new Inbox();
  const ports = new Set<MessagePort>();
  const api = new Api('');
  api.token = hello.token;
  const client = connectBus(hello.transport, {
    busUrl: hello.busUrl,
    token: hello.token,
    channels: hello.channels,
    timeout: hello.pollTimeout,
    inbox,
    onNotifications: (notifications) => {
      for (const port of ports) tell(port, { type: 'notifications', notifications });
    },
  });
  void client.start();
  // POST /presence on either transport (a subscribe writes presence too), so the transports'
  // presence writes compare like for like; Odoo 16's worker sends update_presence on its socket.
  const sub = { inbox, client, channels: new Set(hello.channels), ports, stopBeacon: startPresenceBeacon(api) };
  subscriptions.set(keyOf(hello), sub);
  return sub;
}

function join(port: MessagePort, hello: Hello): void {
  const sub = subscriptions.get(keyOf(hello)) ?? subscribe(hello);
  const added = hello.channels.filter((c) => !sub.channels.has(c));
  if (added.length > 0) {
    // A tab that knows of a channel the others did not (it joined one since they loaded).
    for (const c of added) sub.channels.add(c);
    sub.client.setChannels([...sub.channels]);
  }
  sub.ports.add(port);
  tell(port, { type: 'welcome', last: sub.inbox.last });
}

function leave(port: MessagePort): void {
  for (const [key, sub] of subscriptions) {
    if (!sub.ports.delete(port) || sub.ports.size > 0) continue;
    sub.client.stop();
    sub.stopBeacon();
    subscriptions.delete(key);
  }
}

self.onconnect = (event) => {
  const port = event.ports[0];
  if (!port) return;
  port.onmessage = (message: MessageEvent<TabToWorker>) => {
    if (message.data.type === 'hello') join(port, message.data);
    else leave(port);
  };
  port.start();
};
