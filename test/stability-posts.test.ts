// A quick window can hold only a post or two (a seeded Poisson draw at 1 post/s), and then
// its latencies are that post's: the case says so, as it does for few commits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STABLE_POSTS, stabilityWarnings } from '../src/bench/validity.js';
import { sampleRun } from './fixtures.js';

test('a window with fewer posts than STABLE_POSTS warns that its latencies rest on those posts', () => {
  const c = sampleRun().cases[0];
  assert.ok(c);
  const postWarnings = () => stabilityWarnings(c.totals).filter((w) => w.includes('post'));
  assert.deepEqual(postWarnings(), [], `${c.totals.delivery.posts} posts: no warning`);
  c.totals.delivery.posts = 1;
  c.totals.delivery.posts_failed = 0;
  assert.deepEqual(postWarnings(), [
    `only 1 post in the window (under ${STABLE_POSTS}): the post and delivery latencies rest on it alone; measure longer (--duration)`,
  ]);
  // Failed posts are posts of the window too.
  c.totals.delivery.posts_failed = STABLE_POSTS - 1;
  assert.deepEqual(postWarnings(), []);
});
