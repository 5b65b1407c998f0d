// The messages a tab knows, per channel, whether they came from history, a post's answer or
// the bus: each is kept once, by id, so the order they arrive in never matters. Unread is a
// read mark per channel (the highest message id the user has seen there), not a counter, so
// a mark that another tab shares (read-sync.ts) clears exactly what it covers.

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
  readonly #selfId: number;
  readonly #byChannel = new Map<number, Map<number, ChatMessage>>();
  readonly #readUpTo = new Map<number, number>();

  constructor(selfId: number) {
    this.#selfId = selfId;
  }

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

  /** The highest message id known in the channel, 0 if none. */
  latest(channelId: number): number {
    let latest = 0;
    for (const id of this.#byChannel.get(channelId)?.keys() ?? []) latest = Math.max(latest, id);
    return latest;
  }

  /** Marks the channel read up to `upTo` (its latest message by default); true if the mark moved. */
  markRead(channelId: number, upTo = this.latest(channelId)): boolean {
    if (upTo <= (this.#readUpTo.get(channelId) ?? 0)) return false;
    this.#readUpTo.set(channelId, upTo);
    return true;
  }

  /** Messages of others above the read mark: what the user wrote is never unread. */
  unread(channelId: number): number {
    const mark = this.#readUpTo.get(channelId) ?? 0;
    let count = 0;
    for (const m of this.#byChannel.get(channelId)?.values() ?? []) {
      if (m.id > mark && m.author_id !== this.#selfId) count++;
    }
    return count;
  }

  totalUnread(channelIds: readonly number[]): number {
    return channelIds.reduce((total, id) => total + this.unread(id), 0);
  }
}
