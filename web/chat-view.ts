// The page's DOM: index.html holds the skeleton; this fills it in with keyed updates
// (keyed-list.ts), so nothing the user points at, focuses or selects is rebuilt. The only
// state here is what the DOM needs: which channel the list shows and where the user scrolled.
import type { Channel, ChatMessage } from './chat-store.js';
import { KeyedList } from './keyed-list.js';

export interface PresenceRow {
  user_id: number;
  status: string;
  last_poll: string | null;
}

/** Most messages a channel shows while following the bottom; older ones stay in the history endpoint. */
const SHOWN_MESSAGES = 200;
/** How close to the end (px) still counts as "at the bottom": less than a line. */
const BOTTOM_SLACK_PX = 16;

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text = '', className = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

function userName(userId: number, selfId: number): string {
  return userId === selfId ? 'you' : `user${userId}`;
}

function ago(iso: string | null): string {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 60 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

export class ChatView {
  readonly #login = byId<HTMLFormElement>('login');
  readonly #loginError = byId('login-error');
  readonly #chat = byId('chat');
  readonly #who = byId('who');
  readonly #busStatus = byId('bus-status');
  readonly #title = byId('channel-title');
  readonly #messagesList = byId('messages');
  readonly #newMessages = byId<HTMLButtonElement>('new-messages');
  readonly #composer = byId<HTMLFormElement>('composer');
  readonly #input = this.#composer.elements.namedItem('body') as HTMLInputElement;
  readonly #error = byId('error');
  /** Each channel's button and its unread badge, created once by setChannels(). */
  readonly #channelButtons = new Map<number, { button: HTMLButtonElement; badge: HTMLElement }>();
  readonly #messages: KeyedList<number, HTMLLIElement>;
  readonly #presence: KeyedList<number, HTMLLIElement>;
  #shown: number | null = null;
  /** Messages added below the view since the user scrolled up. */
  #newBelow = 0;

  constructor() {
    this.#messages = new KeyedList(this.#messagesList, () => el('li'));
    this.#presence = new KeyedList(byId('presence'), () => {
      const item = el('li');
      item.append(el('span', '', 'dot'), el('span'));
      return item;
    });
    this.#messagesList.addEventListener('scroll', () => {
      if (this.#atBottom()) this.#clearNewBelow();
    });
    this.#newMessages.addEventListener('click', () => this.#scrollToBottom());
  }

  showLogin(defaultMode: string, submit: (login: string, password: string, mode: string) => Promise<void>): void {
    this.#login.hidden = false;
    const field = (name: string) => this.#login.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
    field('mode').value = defaultMode;
    this.#login.onsubmit = (event) => {
      event.preventDefault();
      submit(field('login').value, field('password').value, field('mode').value).catch((err: Error) =>
        this.showLoginError(err.message),
      );
    };
  }

  showLoginError(message: string): void {
    this.#login.hidden = false;
    this.#loginError.textContent = message;
    this.#loginError.hidden = message === '';
  }

  showChat(login: string, onPost: (body: string) => void): void {
    this.#login.hidden = true;
    this.#chat.hidden = false;
    this.#who.textContent = login;
    this.#composer.onsubmit = (event) => {
      event.preventDefault();
      const body = this.#input.value.trim();
      if (!body) return;
      this.#input.value = '';
      // Who writes wants to see the conversation's end, where their message will appear.
      this.#scrollToBottom();
      onPost(body);
    };
  }

  setBusStatus(text: string): void {
    this.#busStatus.textContent = text;
  }

  setTitle(unread: number): void {
    const title = unread > 0 ? `(${unread}) busbench chat` : 'busbench chat';
    if (document.title !== title) document.title = title;
  }

  /** An empty message hides the alert: no blank band while all is well. */
  showError(message: string): void {
    this.#error.textContent = message;
    this.#error.hidden = message === '';
  }

  /** The channel buttons, created once; updateChannels() then changes them in place. */
  setChannels(channels: readonly Channel[], select: (id: number) => void): void {
    this.#channelButtons.clear();
    const items = channels.map((channel) => {
      const button = el('button');
      button.type = 'button';
      button.dataset.channelId = String(channel.id);
      // The badge is always there (hidden at 0): the button's content never changes shape under a press.
      const badge = el('span', '', 'unread');
      badge.hidden = true;
      button.append(el('span', `# ${channel.name}`, 'channel-name'), badge);
      button.addEventListener('click', () => select(channel.id));
      this.#channelButtons.set(channel.id, { button, badge });
      const item = el('li');
      item.append(button);
      return item;
    });
    byId('channels').replaceChildren(...items);
  }

  /** Changes only the attributes and counts that differ, so a press on a button is never cut. */
  updateChannels(selected: number | null, unread: (id: number) => number): void {
    for (const [id, { button, badge }] of this.#channelButtons) {
      const current = String(id === selected);
      if (button.getAttribute('aria-current') !== current) button.setAttribute('aria-current', current);
      const count = unread(id);
      const text = count > 0 ? String(count) : '';
      if (badge.textContent === text) continue;
      badge.textContent = text;
      badge.hidden = count === 0;
      badge.title = `${count} unread`;
    }
  }

  /**
   * Shows the channel's messages. Another channel starts at its end. In the same channel a
   * user at the bottom stays there; one who scrolled up keeps the view, and a marker counts
   * what came in below.
   */
  showMessages(channel: Channel, messages: readonly ChatMessage[], selfId: number): void {
    const list = this.#messagesList;
    const switched = channel.id !== this.#shown;
    if (switched) {
      this.#shown = channel.id;
      this.#messages.clear();
      this.#clearNewBelow();
      this.#title.replaceChildren(
        el('span', `# ${channel.name}`, 'channel-name'),
        ' ',
        el('span', `${channel.members} members`, 'members'),
      );
      list.dataset.channelId = String(channel.id);
      this.#input.placeholder = `Message #${channel.name}`;
    }
    const follow = switched || this.#atBottom();
    const lastShown = this.#messages.keys.at(-1) ?? 0;
    const firstShown = this.#messages.keys[0];
    // Scrolled up, nothing is trimmed from the top, so the rows the user reads never move.
    const shown =
      follow || firstShown === undefined ? messages.slice(-SHOWN_MESSAGES) : messages.filter((m) => m.id >= firstShown);
    const byMessage = new Map(shown.map((m) => [m.id, m]));
    const created = this.#messages.set(shown.map((m) => m.id));
    for (const id of created) {
      const m = byMessage.get(id);
      const row = this.#messages.row(id);
      if (!m || !row) continue;
      row.dataset.messageId = String(id);
      const time = new Date(m.created_at).toLocaleTimeString();
      row.append(el('span', userName(m.author_id, selfId), 'author'), el('span', m.body), el('span', time, 'time'));
    }
    if (follow) {
      list.scrollTop = list.scrollHeight;
      return;
    }
    const below = created.filter((id) => id > lastShown).length;
    if (below > 0) {
      this.#newBelow += below;
      this.#newMessages.textContent = `${this.#newBelow} new message${this.#newBelow === 1 ? '' : 's'} ↓`;
      this.#newMessages.hidden = false;
    }
  }

  renderPresence(rows: readonly PresenceRow[], selfId: number): void {
    this.#presence.set(rows.map((r) => r.user_id));
    for (const r of rows) {
      const item = this.#presence.row(r.user_id);
      const [dot, label] = item ? [...item.children] : [];
      if (!item || !dot || !label) continue;
      item.title = `last poll ${ago(r.last_poll)}`;
      dot.className = `dot ${r.status}`;
      label.textContent = `${userName(r.user_id, selfId)} · ${r.status}`;
    }
  }

  #atBottom(): boolean {
    const list = this.#messagesList;
    return list.scrollHeight - list.scrollTop - list.clientHeight <= BOTTOM_SLACK_PX;
  }

  #scrollToBottom(): void {
    this.#messagesList.scrollTop = this.#messagesList.scrollHeight;
    this.#clearNewBelow();
  }

  #clearNewBelow(): void {
    this.#newBelow = 0;
    this.#newMessages.hidden = true;
  }
}
