import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { driftedBlocks, OPTION_BLOCKS, renderBlocks, writeBlocks } from '../src/cli/docs.js';
import { ERROR_CODES, errors } from '../src/lib/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

test("README.md's generated tables match the definitions", () => {
  assert.deepEqual(driftedBlocks(readme), [], 'README.md is out of date: run npm run docs');
});

test('every option and every error code has a row in its table', () => {
  const blocks = renderBlocks();
  for (const [name, table] of Object.entries(OPTION_BLOCKS)) {
    for (const o of Object.values(table)) {
      assert.ok(blocks[name as keyof typeof OPTION_BLOCKS].includes(`| \`${o.flag}\``), `${name}: ${o.flag}`);
      assert.ok(blocks[name as keyof typeof OPTION_BLOCKS].includes(`| \`${o.env}\``), `${name}: ${o.env}`);
    }
  }
  for (const code of [...Object.keys(ERROR_CODES), errors.noK6().code]) {
    assert.ok(blocks['error-codes'].includes(`| \`${code}\``), code);
  }
  assert.match(blocks['error-codes'], /\| `E_NO_K6` +\| exit code 2 +\|/);
  assert.match(blocks['error-codes'], /\| `E_BAD_JSON` +\| 400 +\|/);
  assert.match(blocks['error-codes'], /\| `E_TOO_MANY_POLLS` +\| 503 +\| .*`Retry-After: 5`\./);
});

test('a profile-decided default reads (profile) and an empty one (empty)', () => {
  const blocks = renderBlocks();
  assert.match(
    blocks['bench-options'],
    /\| `--browsers <n>` +\| `BUSBENCH_BROWSERS` +\| \(profile\) +\| browsers per user +\|/,
  );
  assert.match(blocks['server-options'], /\| `--database-url <url>` +\| `DATABASE_URL` +\| \(empty\) +\|/);
  assert.match(blocks['server-options'], /\| `--topology <name>` +\| `BUSBENCH_TOPOLOGY` +\| `single-process` +\|/);
});

test('a README with one changed row is reported by its block, and writing restores it', () => {
  const row = /^\| `--port <n>` +\| `BUSBENCH_PORT` .*$/m.exec(readme)?.[0];
  assert.ok(row, 'the server-options table has a --port row');
  const drifted = readme.replace(row, row.replace('`8069`', '`8070`'));
  assert.notEqual(drifted, readme);
  assert.deepEqual(driftedBlocks(drifted), ['server-options']);
  assert.equal(writeBlocks(drifted), readme);
});

test('a README without the markers of a block is reported', () => {
  const unmarked = readme.replace('<!-- generated: error-codes -->\n', '');
  assert.deepEqual(driftedBlocks(unmarked), ['error-codes']);
  assert.equal(writeBlocks(unmarked), unmarked);
});
