// The one dedicated LISTEN connection of a process (Odoo's ImDispatch). A pg Client cannot
// reconnect, so a lost one is replaced by a new Client after a backoff; notifications sent
// while it was gone are not replayed by PostgreSQL, which is why every reconnect wakes all
// waiters: they fetch by id and miss nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export const BUS_CHANNEL = 'imbus';

export interface ListenerEvents {
  /** A NOTIFY arrived naming these bus channels, or 'all' when its payload was unreadable. */
  notified(channels: string[] | 'all'): void;
  /** The connection came back: anything may have been missed. */
  reconnected(): void;
}

export class Listener {
  readonly #url: string;
  readonly #applicationName: string;
  readonly #events: ListenerEvents;
  #client: pg.Client | undefined;
  #closed = false;
  #connecting: Promise<void> | undefined;

  constructor(url: string, applicationName: string, events: ListenerEvents) {
    this.#url = url;
    this.#applicationName = applicationName;
    this.#events = events;
  }

  /** Resolves once LISTEN is active; throws if the first connection fails. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url, application_name: this.#applicationName });
    client.on('notification', (message) => {
      if (message.channel === BUS_CHANNEL) this.#events.notified(parseChannels(message.payload));
    });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    await client.connect();
    await client.query(`LISTEN ${BUS_CHANNEL}`);
    if (this.#closed) {
      await client.end();
      return;
    }
    this.#client = client;
  }

  #lost(client: pg.Client): void {
    if (this.#closed || this.#client !== client || this.#connecting) return;
    this.#client = undefined;
    this.#connecting = this.#reconnect().finally(() => {
      this.#connecting = undefined;
    });
  }

  async #reconnect(): Promise<void> {
    for (let retry = 0; !this.#closed; retry++) {
      // 50 ms, 100 ms, ... capped at 5 s, with jitter so that forked workers do not all
      // hammer a restarting server at the same instant.
      await sleep(Math.min(5000, 50 * 2 ** retry) * (0.5 + Math.random() / 2));
      if (this.#closed) return;
      try {
        await this.#connect();
        if (this.#closed) return;
        this.#events.reconnected();
        return;
      } catch (err) {
        console.error(`[busbench] LISTEN reconnect failed: ${(err as Error).message}`);
      }
    }
  }
}

function parseChannels(payload: string | undefined): string[] | 'all' {
  try {
    const value: unknown = JSON.parse(payload ?? '');
    if (Array.isArray(value) && value.every((c) => typeof c === 'string')) return value;
  } catch {
    // fall through: an unreadable payload wakes everyone rather than losing a wake-up
  }
  return 'all';
}

/**
 * NOTIFY the bus channels after a commit. A payload must stay under PostgreSQL's 8000 bytes,
 * so a long channel list is split over several NOTIFYs, as Odoo does.
 */
export async function notifyChannels(
  query: (sql: string, params: unknown[]) => Promise<unknown>,
  channels: string[],
): Promise<void> {
  const limit = 7900;
  let batch: string[] = [];
  for (const channel of new Set(channels)) {
    if (batch.length > 0 && JSON.stringify([...batch, channel]).length > limit) {
      await query('SELECT pg_notify($1, $2)', [BUS_CHANNEL, JSON.stringify(batch)]);
      batch = [];
    }
    batch.push(channel);
  }
  if (batch.length > 0) await query('SELECT pg_notify($1, $2)', [BUS_CHANNEL, JSON.stringify(batch)]);
}
