// When every pooled connection is busy, a request waits --pool-timeout and then gets a
// 503 it can act on; the process stays up and recovers as soon as connections free up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockPresenceWrite, login, request, startLayout } from './helpers.js';

test('an exhausted pool answers 503 E_POOL_EXHAUSTED with Retry-After, then recovers', async () => {
  const layout = await startLayout('single-process', ['--pool-size', '1', '--pool-timeout', '0.3']);
  let blocked: Awaited<ReturnType<typeof blockPresenceWrite>> | undefined;
  try {
    const token = await login(layout, 'user1');
    // The poll's presence write waits on a lock while holding the pool's only connection.
    blocked = await blockPresenceWrite(layout, token);
    const refused = await request('GET', `${layout.url}/channels`, { token });
    assert.equal(refused.status, 503, refused.text);
    assert.equal((refused.body.error as { code: string }).code, 'E_POOL_EXHAUSTED');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    await blocked.release();
    assert.equal((await blocked.stuck).status, 200);
    assert.equal((await request('GET', `${layout.url}/channels`, { token })).status, 200);
  } finally {
    await blocked?.release();
    assert.equal(await layout.stop(), 0, layout.log());
  }
});
