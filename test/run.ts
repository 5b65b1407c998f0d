// `npm test`: one real PostgreSQL for the whole run (embedded, or the server DATABASE_URL
// names), then node:test over every compiled test file. Each test creates its own database
// on that server, so files stay independent.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openPostgres } from '../src/lib/postgres.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const server = await openPostgres({
  databaseUrl: process.env.DATABASE_URL ?? '',
  dataDir: '.busbench/test-pg',
  maxConnections: 400,
  log: (l) => console.error(l),
});
const files = (await readdir(here)).filter((f) => f.endsWith('.test.js')).map((f) => `${here}${f}`);
const only = process.argv.slice(2);
const selected = only.length > 0 ? files.filter((f) => only.some((o) => f.includes(o))) : files;

const child = spawn(process.execPath, ['--test', ...selected], {
  stdio: 'inherit',
  env: { ...process.env, BUSBENCH_TEST_ADMIN_URL: server.adminUrl },
});
const stop = () => child.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
const code = await new Promise<number>((done) => child.on('exit', (c, signal) => done(c ?? (signal ? 1 : 0))));
await server.stop();
process.exit(code);
