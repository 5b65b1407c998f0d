// The page's DOM: index.html holds the skeleton; this fills it in. No state lives here.
import type { Channel, ChatMessage } from './chat-store.js';

export interface PresenceRow {
  user_id: number;
  status: string;
  last_poll: string | null;
}

/** Most messages a channel shows; older ones stay in the history endpoint. */
const SHOWN_MESSAGES = 200;

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
  readonly #chat = byId('chat');
  readonly #who = byId('who');
  readonly #busStatus = byId('bus-status');
  readonly #channels = byId('channels');
  readonly #title = byId('channel-title');
  readonly #messages = byId('messages');
  readonly #composer = byId<HTMLFormElement>('composer');
  readonly #error = byId('error');
  readonly #presence = byId('presence');

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
    byId('login-error').textContent = message;
  }

  showChat(login: string, onPost: (body: string) => void): void {
    this.#login.hidden = true;
    this.#chat.hidden = false;
    this.#who.textContent = login;
    const input = this.#composer.elements.namedItem('body') as HTMLInputElement;
    this.#composer.onsubmit = (event) => {
      event.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      input.value = '';
      onPost(body);
    };
  }

  setBusStatus(text: string): void {
    this.#busStatus.textContent = text;
  }

  setTitle(unread: number): void {
    document.title = unread > 0 ? `(${unread}) busbench chat` : 'busbench chat';
  }

  showError(message: string): void {
    this.#error.textContent = message;
  }

  renderChannels(
    channels: readonly Channel[],
    selected: number | null,
    unread: (id: number) => number,
    select: (id: number) => void,
  ): void {
    this.#channels.replaceChildren(
      ...channels.map((channel) => {
        const button = el('button', `# ${channel.name}`);
        button.type = 'button';
        button.dataset.channelId = String(channel.id);
        button.setAttribute('aria-current', String(channel.id === selected));
        const count = unread(channel.id);
        if (count > 0) button.append(el('span', String(count), 'unread'));
        button.onclick = () => select(channel.id);
        const item = el('li');
        item.append(button);
        return item;
      }),
    );
  }

  renderMessages(channel: Channel, messages: readonly ChatMessage[], selfId: number): void {
    this.#title.textContent = `# ${channel.name} (${channel.members} members)`;
    this.#messages.dataset.channelId = String(channel.id);
    const input = this.#composer.elements.namedItem('body') as HTMLInputElement;
    input.placeholder = `Message #${channel.name}`;
    this.#messages.replaceChildren(
      ...messages.slice(-SHOWN_MESSAGES).map((m) => {
        const item = el('li');
        item.dataset.messageId = String(m.id);
        const time = new Date(m.created_at).toLocaleTimeString();
        item.append(el('span', userName(m.author_id, selfId), 'author'), el('span', m.body), el('span', time, 'time'));
        return item;
      }),
    );
    this.#messages.scrollTop = this.#messages.scrollHeight;
  }

  renderPresence(rows: readonly PresenceRow[], selfId: number): void {
    this.#presence.replaceChildren(
      ...rows.map((row) => {
        const item = el('li');
        item.title = `last poll ${ago(row.last_poll)}`;
        item.append(
          el('span', '', `dot ${row.status}`),
          el('span', `${userName(row.user_id, selfId)} · ${row.status}`),
        );
        return item;
      }),
    );
  }
}
