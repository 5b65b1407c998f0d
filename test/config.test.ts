import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BusbenchError, CliError } from '../src/lib/errors.js';
import { loadConfig, OPTIONS } from '../src/lib/server-options.js';

test('defaults apply when neither env nor flag is given', () => {
  const config = loadConfig({}, {});
  assert.equal(config.topology, 'single-process');
  assert.equal(config.pollTimeout, 50);
  assert.equal(config.isolation, 'repeatable-read');
  assert.equal(config.maxTries, 5);
});

test('a flag beats the environment, which beats the default', () => {
  assert.equal(loadConfig({}, { BUSBENCH_WORKERS: '3' }).workers, 3);
  assert.equal(loadConfig({ workers: '4' }, { BUSBENCH_WORKERS: '3' }).workers, 4);
  assert.equal(loadConfig({}, { DATABASE_URL: 'postgres://h/db' }).databaseUrl, 'postgres://h/db');
});

test('a bad value names the setting, ends the command with exit code 2 and changes nothing', () => {
  assert.throws(
    () => loadConfig({ topology: 'threaded' }, {}),
    (err: unknown) =>
      err instanceof CliError && err.code === 'E_CONFIG' && err.exitCode === 2 && /--topology/.test(err.message),
  );
  assert.throws(
    () => loadConfig({}, { BUSBENCH_POOL_SIZE: '0' }),
    (err: unknown) => err instanceof BusbenchError && /BUSBENCH_POOL_SIZE/.test(err.message),
  );
});

test('every option is documented with a flag and an environment variable', () => {
  for (const [key, o] of Object.entries(OPTIONS)) {
    assert.match(o.flag, /^--[a-z-]+ <[a-z]+>$/, key);
    assert.match(o.env, /^(BUSBENCH_[A-Z_]+|DATABASE_URL)$/, key);
    assert.ok(o.doc.length > 15, key);
  }
});
