// The chat page: log in, pick the tab mode (?mode=every-tab|leader|shared-worker) and the
// transport (?transport=longpoll|websocket), show the user's channels, and apply the bus's
// notifications as they come. ?login=user3 logs in at
// once with the seeded password; ?channel=<id> picks the channel shown first. ?keeplast=off and
// ?mutex=off turn a concurrency primitive off, for seed 001's experiment only.
import { Api } from './api.js';
import { type BusNotification, Inbox } from './bus-client.js';
import { Chat, isMessage } from './chat.js';
import type { Channel } from './chat-store.js';
import { ChatView } from './chat-view.js';
import { EveryTab } from './every-tab.js';
import { LeaderTab } from './leader-tab.js';
import { SharedWorkerTab } from './shared-worker-tab.js';
import type { TabMode, TabModeDeps } from './tab-mode.js';
import {
  type BusbenchTabState,
  type ReceivedMessage,
  TAB_MODES,
  TAB_TRANSPORTS,
  type TabModeName,
  type TabTransportName,
} from './tab-state.js';

declare global {
  interface Window {
    busbench: BusbenchTabState;
  }
}

interface LayoutConfig {
  topology: string;
  bus_url: string | null;
  poll_timeout: number;
}

interface Session {
  token: string;
  user: { id: number; login: string; name: string };
}

const SEEDED_PASSWORD = 'busbench';
const params = new URLSearchParams(location.search);
const inbox = new Inbox();
const received: ReceivedMessage[] = [];
let mode: TabMode | undefined;
let chat: Chat | undefined;
let showBus = () => {};

window.busbench = {
  ready: false,
  mode: 'every-tab',
  transport: 'longpoll',
  get isLeader() {
    return mode?.isLeader ?? false;
  },
  get leaderSince() {
    return mode?.leaderSince ?? null;
  },
  userId: 0,
  get last() {
    return inbox.last;
  },
  received,
  get duplicates() {
    return inbox.duplicates;
  },
  get pollsInFlight() {
    return mode?.pollsInFlight ?? 0;
  },
  post: (channelId, body, clientId) =>
    chat ? chat.post(channelId, body, clientId) : Promise.reject(new Error('not logged in yet')),
};

function tabMode(name: string | null): TabModeName {
  const found = TAB_MODES.find((m) => m === (name ?? 'every-tab'));
  if (!found) throw new Error(`unknown mode "${name}": use ${TAB_MODES.join(', ')}`);
  return found;
}

function tabTransport(name: string | null): TabTransportName {
  const found = TAB_TRANSPORTS.find((t) => t === (name ?? 'longpoll'));
  if (!found) throw new Error(`unknown transport "${name}": use ${TAB_TRANSPORTS.join(', ')}`);
  return found;
}

function createMode(name: TabModeName, deps: TabModeDeps): TabMode {
  if (name === 'leader') return new LeaderTab(deps);
  if (name === 'shared-worker') return new SharedWorkerTab(deps);
  return new EveryTab(deps);
}

function deliver(fresh: BusNotification[]): void {
  for (const n of fresh) {
    if (isMessage(n.payload)) {
      const { id, channel_id, client_id } = n.payload.message;
      received.push({ busId: n.id, messageId: id, channelId: channel_id, clientId: client_id });
    }
    chat?.apply(n);
  }
  showBus();
}

function describeBus(name: TabModeName, transport: TabTransportName, topology: string): string {
  const hears = transport === 'websocket' ? 'holds the websocket' : 'polls';
  const role =
    name === 'shared-worker'
      ? `the shared worker ${hears}`
      : name === 'every-tab'
        ? `this tab ${hears}`
        : mode?.leaderSince
          ? `leader since ${new Date(mode.leaderSince).toLocaleTimeString()}: this tab ${hears}`
          : 'following the leader tab';
  return `${topology} · ${name} · ${transport} · ${role} · last ${inbox.last}`;
}

async function open(
  view: ChatView,
  api: Api,
  config: LayoutConfig,
  login: string,
  password: string,
  name: TabModeName,
  transport: TabTransportName,
) {
  const session = await api.call<Session>('POST', '/session', { login, password });
  api.token = session.token;
  const { channels } = await api.call<{ channels: Channel[] }>('GET', '/channels');
  const userId = session.user.id;
  Object.assign(window.busbench, { userId, mode: name, transport });
  const current = new Chat({
    api,
    view,
    userId,
    channels,
    keepLast: params.get('keeplast') !== 'off',
    mutex: params.get('mutex') !== 'off',
  });
  chat = current;
  view.showChat(session.user.login, (body) => {
    if (current.selected !== null)
      current.post(current.selected, body).catch((err: Error) => view.showError(err.message));
  });
  const wanted = Number(params.get('channel'));
  const first = channels.some((c) => c.id === wanted) ? wanted : channels[0]?.id;
  mode = createMode(name, {
    api,
    busUrl: config.bus_url ?? '',
    transport,
    userId,
    channels: [...channels.map((c) => `channel:${c.id}`), `user:${userId}`],
    pollTimeout: config.poll_timeout,
    inbox,
    deliver,
  });
  // Not waited for: in every-tab mode the history may queue behind the browser's six parked polls.
  if (first !== undefined) current.select(first).catch((err: Error) => view.showError(err.message));
  await mode.start();
  window.busbench.ready = true;
  showBus = () => view.setBusStatus(describeBus(name, transport, config.topology));
  showBus();
  setInterval(showBus, 1000);
}

async function boot(view: ChatView): Promise<void> {
  const name = tabMode(params.get('mode'));
  const transport = tabTransport(params.get('transport'));
  const api = new Api('');
  const config = await api.call<LayoutConfig>('GET', '/config');
  const start = (login: string, password: string, chosen: string) =>
    open(view, api, config, login, password, tabMode(chosen), transport);
  const login = params.get('login');
  if (login) await start(login, SEEDED_PASSWORD, name);
  else view.showLogin(name, start);
}

const view = new ChatView();
boot(view).catch((err: Error) => view.showLoginError(err.message));
