import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROFILES } from '../loadtests/lib/profiles.js';
import { BusbenchError, CliError } from '../src/lib/errors.js';
import { loadConfig, OPTIONS } from '../src/lib/server-options.js';
import { request, startLayout } from './helpers.js';

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

test('serve --profile serves what the profile expects, and a flag given too wins', async () => {
  const storm = await startLayout('single-process', ['--profile', 'presence-storm']);
  try {
    const { body } = await request<{ poll_timeout: number }>('GET', `${storm.url}/config`);
    assert.equal(body.poll_timeout, PROFILES['presence-storm']?.pollTimeout);
  } finally {
    assert.equal(await storm.stop(), 0, storm.log());
  }
  const overridden = await startLayout('single-process', ['--profile', 'presence-storm', '--poll-timeout', '7']);
  try {
    const { body } = await request<{ poll_timeout: number }>('GET', `${overridden.url}/config`);
    assert.equal(body.poll_timeout, 7);
  } finally {
    assert.equal(await overridden.stop(), 0, overridden.log());
  }
});
