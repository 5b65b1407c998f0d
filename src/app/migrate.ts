// Versioned SQL migrations (migrations/NNN_name.sql, applied once each, in order) and the
// seeded data set: users, channels and memberships of a configurable size.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Config } from '../lib/server-options.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));
export const SEED_PASSWORD = 'busbench';

export function hashPassword(password: string): string {
  // A bench model, not a credential store: a fast hash keeps logins from dominating a run.
  return createHash('sha256').update(`busbench:${password}`).digest('hex');
}

export async function migrate(client: pg.Client): Promise<string[]> {
  await client.query(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  // Two starts against one database must not apply a migration twice.
  await client.query('SELECT pg_advisory_lock(4242)');
  try {
    const done = new Set(
      (await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
    );
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
    const applied: string[] = [];
    for (const file of files) {
      const version = file.replace(/\.sql$/, '');
      if (done.has(version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(await readFile(`${MIGRATIONS_DIR}${file}`, 'utf8'));
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      applied.push(version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock(4242)');
  }
}

/**
 * Seeds users user1..userN, channel 1 "general" with everyone, and `channelsPerUser` more
 * memberships per user spread over the other channels. Does nothing on a seeded database.
 */
export async function seed(
  client: pg.Client,
  config: Pick<Config, 'users' | 'channels' | 'channelsPerUser'>,
): Promise<boolean> {
  const { rows } = await client.query<{ n: number }>('SELECT count(*) AS n FROM users');
  if ((rows[0]?.n ?? 0) > 0) return false;
  await client.query('BEGIN');
  try {
    await client.query(
      `INSERT INTO users (login, name, password_hash)
       SELECT 'user' || i, 'User ' || i, $2 FROM generate_series(1, $1::int) AS i`,
      [config.users, hashPassword(SEED_PASSWORD)],
    );
    await client.query(
      `INSERT INTO channels (name)
       SELECT CASE WHEN i = 1 THEN 'general' ELSE 'channel' || i END FROM generate_series(1, $1::int) AS i`,
      [config.channels],
    );
    await client.query('INSERT INTO channel_members (channel_id, user_id) SELECT 1, id FROM users');
    if (config.channels > 1) {
      await client.query(
        `INSERT INTO channel_members (channel_id, user_id)
         SELECT 2 + ((u.id + j * 7) % ($1::int - 1)), u.id
         FROM users u, generate_series(0, $2::int - 1) AS j
         ON CONFLICT DO NOTHING`,
        [config.channels, config.channelsPerUser],
      );
    }
    await client.query('INSERT INTO presence (user_id) SELECT id FROM users');
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** Migrates and seeds the database at `url`; returns what it did, for the start-up log. */
export async function prepareDatabase(url: string, config: Config): Promise<{ applied: string[]; seeded: boolean }> {
  const client = new pg.Client({ connectionString: url, application_name: `busbench/${config.topology}/admin/0` });
  await client.connect();
  try {
    const applied = await migrate(client);
    const seeded = await seed(client, config);
    return { applied, seeded };
  } finally {
    await client.end();
  }
}
