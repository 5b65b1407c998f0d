// The messages a tab knows, per channel, whether they came from history, a post's answer or
// the bus: each is kept once, by id, so the order they arrive in never matters.

export interface ChatMessage {
  id: number;
  channel_id: number;
  author_id: number;
  body: string;
  client_id: string | null;
  created_at: string;
}

export interface Channel {
  id: number;
  name: string;
  members: number;
}

export class ChatStore {
  readonly #byChannel = new Map<number, Map<number, ChatMessage>>();
  readonly #unread = new Map<number, number>();

  /** Adds the messages not known yet and returns them. */
  add(messages: readonly ChatMessage[]): ChatMessage[] {
    const added: ChatMessage[] = [];
    for (const m of messages) {
      let channel = this.#byChannel.get(m.channel_id);
      if (!channel) {
        channel = new Map();
        this.#byChannel.set(m.channel_id, channel);
      }
      if (channel.has(m.id)) continue;
      channel.set(m.id, m);
      added.push(m);
    }
    return added;
  }

  /** Oldest first. */
  messages(channelId: number): ChatMessage[] {
    return [...(this.#byChannel.get(channelId)?.values() ?? [])].sort((a, b) => a.id - b.id);
  }

  authors(channelId: number): number[] {
    return [...new Set(this.messages(channelId).map((m) => m.author_id))];
  }

  markUnread(channelId: number): void {
    this.#unread.set(channelId, (this.#unread.get(channelId) ?? 0) + 1);
  }

  markRead(channelId: number): void {
    this.#unread.delete(channelId);
  }

  unread(channelId: number): number {
    return this.#unread.get(channelId) ?? 0;
  }

  totalUnread(): number {
    let total = 0;
    for (const n of this.#unread.values()) total += n;
    return total;
  }
}
