// One tab's chat: which channel is shown, its messages, unread counts, posting, presence.
// Loads that compete (switching channels quickly) go through KeepLast; posts go through a
// Mutex so they reach the server in the order the user sent them.
//
// A channel is viewed while a visible tab shows it: its messages up to the latest are then
// read, in this tab and, through ReadSync, in the browser's other tabs. Every other message
// of someone else that reached the tab is unread: per channel in the list, the total in the
// document title. What came before the tab opened is history, never unread.
import type { Api } from './api.js';
import type { BusNotification } from './bus-client.js';
import { type Channel, type ChatMessage, ChatStore } from './chat-store.js';
import type { ChatView, PresenceRow } from './chat-view.js';
import { KeepLast, Mutex, SUPERSEDED, WITHOUT_KEEP_LAST, WITHOUT_MUTEX } from './concurrency.js';
import { ReadSync } from './read-sync.js';

const PRESENCE_REFRESH_MS = 60_000;
/** The first poll records the user's presence; the list shown at once would miss it. */
const FIRST_PRESENCE_REFRESH_MS = 2000;
const HISTORY_LIMIT = 50;

export interface MessagePayload {
  type: 'message';
  message: ChatMessage;
}

export function isMessage(payload: unknown): payload is MessagePayload {
  return (payload as MessagePayload | null)?.type === 'message';
}

export class Chat {
  readonly #api: Api;
  readonly #view: ChatView;
  readonly #userId: number;
  readonly #channels: readonly Channel[];
  readonly #store: ChatStore;
  readonly #readSync: ReadSync;
  readonly #history: Pick<KeepLast, 'add'>;
  readonly #presence = new KeepLast();
  readonly #posts: Pick<Mutex, 'exec'>;
  #selected: number | null = null;
  #renderQueued = false;

  constructor(deps: {
    api: Api;
    view: ChatView;
    userId: number;
    channels: readonly Channel[];
    /** false only in seed 001's experiment: the primitive is off, to show what it prevents. */
    keepLast?: boolean;
    mutex?: boolean;
  }) {
    this.#history = deps.keepLast === false ? WITHOUT_KEEP_LAST : new KeepLast();
    this.#posts = deps.mutex === false ? WITHOUT_MUTEX : new Mutex();
    this.#api = deps.api;
    this.#view = deps.view;
    this.#userId = deps.userId;
    this.#channels = deps.channels;
    this.#store = new ChatStore(deps.userId);
    this.#readSync = new ReadSync(deps.userId, (channelId, upTo) => {
      if (this.#store.markRead(channelId, upTo)) this.#queueRender();
    });
    this.#view.setChannels(this.#channels, (id) =>
      this.select(id).catch((err: Error) => this.#view.showError(err.message)),
    );
    this.#render();
    document.addEventListener('visibilitychange', () => {
      if (this.#markViewed()) this.#queueRender();
    });
    setTimeout(() => void this.#refreshPresence(), FIRST_PRESENCE_REFRESH_MS);
    setInterval(() => void this.#refreshPresence(), PRESENCE_REFRESH_MS);
  }

  get selected(): number | null {
    return this.#selected;
  }

  /** Shows a channel once its history is in; a later select() wins over this one. */
  async select(channelId: number): Promise<void> {
    const page = await this.#history.add(() =>
      this.#api.call<{ messages: ChatMessage[] }>('GET', `/channels/${channelId}/messages?limit=${HISTORY_LIMIT}`),
    );
    if (page === SUPERSEDED) return;
    this.#store.add(page.messages);
    // The state changes only now, all at once: never the new channel with the old messages.
    this.#selected = channelId;
    this.#markViewed();
    this.#render();
    await this.#refreshPresence();
  }

  /** The HTTP status of the post; posts leave one after another, in call order. */
  post(channelId: number, body: string, clientId?: string): Promise<number> {
    return this.#posts.exec(async () => {
      const reply = await this.#api.send<{ message: ChatMessage; error?: { message: string } }>(
        'POST',
        `/channels/${channelId}/messages`,
        { body, ...(clientId === undefined ? {} : { client_id: clientId }) },
      );
      if (reply.status === 201) {
        this.#view.showError('');
        this.#add([reply.body.message]);
      } else {
        this.#view.showError(`not sent (${reply.status}): ${reply.body.error?.message ?? ''}`);
      }
      return reply.status;
    });
  }

  /** A bus notification, applied once and in id order by the caller. */
  apply(notification: BusNotification): void {
    if (isMessage(notification.payload)) this.#add([notification.payload.message]);
  }

  #add(messages: ChatMessage[]): void {
    const selected = this.#selected;
    const knownAuthors = selected === null ? [] : this.#store.authors(selected);
    const added = this.#store.add(messages);
    if (added.length === 0) return;
    this.#markViewed();
    this.#queueRender();
    if (added.some((m) => m.channel_id === selected && !knownAuthors.includes(m.author_id))) {
      void this.#refreshPresence();
    }
  }

  /** Marks the shown channel read if the user can see it, and tells the other tabs; true if the mark moved. */
  #markViewed(): boolean {
    const shown = this.#selected;
    if (shown === null || document.visibilityState !== 'visible' || !this.#store.markRead(shown)) return false;
    this.#readSync.share(shown, this.#store.latest(shown));
    return true;
  }

  /**
   * One render for a batch of notifications. A microtask, not an animation frame: a hidden
   * tab gets no frames, and its title must still count what arrives.
   */
  #queueRender(): void {
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    queueMicrotask(() => this.#render());
  }

  #render(): void {
    this.#renderQueued = false;
    const channel = this.#channels.find((c) => c.id === this.#selected);
    this.#view.updateChannels(this.#selected, (id) => this.#store.unread(id));
    if (channel) this.#view.showMessages(channel, this.#store.messages(channel.id), this.#userId);
    this.#view.setTitle(this.#store.totalUnread(this.#channels.map((c) => c.id)));
  }

  /** Presence of who wrote in the shown channel, and of the user. */
  async #refreshPresence(): Promise<void> {
    if (this.#selected === null) return;
    const ids = [...new Set([this.#userId, ...this.#store.authors(this.#selected)])].slice(0, 500);
    const answer = await this.#presence
      .add(() => this.#api.call<{ presence: PresenceRow[] }>('GET', `/presence?user_ids=${ids.join(',')}`))
      // The list is decoration: a failed refresh leaves the old one until the next.
      .catch((): typeof SUPERSEDED => SUPERSEDED);
    if (answer === SUPERSEDED) return;
    const known = new Map(answer.presence.map((row) => [row.user_id, row]));
    const rows = ids.map((id) => known.get(id) ?? { user_id: id, status: 'offline', last_poll: null });
    this.#view.renderPresence(rows, this.#userId);
  }
}
