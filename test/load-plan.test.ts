// What both load engines decide from loadtests/lib/load-plan.js: the post schedule, which
// tabs are hidden and for how long, and the measure window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HIDDEN_DELAY,
  hiddenPollDelayMs,
  hiddenTabs,
  isMeasured,
  measureWindow,
  postCount,
  postDue,
} from '../loadtests/lib/load-plan.js';
import type { TabMode } from '../loadtests/lib/profiles.js';

test('the schedule has a post every 1/rate s through warm-up and measurement, both ends included', () => {
  const p = { rate: 4, warmup: 10, duration: 40 };
  const count = postCount(p);
  assert.equal(count, 201);
  const start = 1_000_000;
  assert.equal(postDue(start, 0, p.rate), start);
  assert.equal(postDue(start, 1, p.rate), start + 250);
  assert.equal(postDue(start, count - 1, p.rate), start + 50_000, 'the last post is due as the measurement ends');
  assert.equal(postCount({ rate: 3, warmup: 0.5, duration: 0.6 }), 5, 'a fractional post rounds up');
});

test('a profile at rate 0 makes no posts', () => {
  assert.equal(postCount({ rate: 0, warmup: 10, duration: 40 }), 0);
});

/** Every tab of `browsers` browsers, browser by browser, as both engines number them. */
function allTabs(browsers: number, tabsPerBrowser: number, hiddenFraction: number, tabMode: TabMode) {
  const tabs: boolean[] = [];
  for (let b = 0; b < browsers; b++) tabs.push(...hiddenTabs({ tabsPerBrowser, hiddenFraction, tabMode }, b));
  return tabs;
}

test('over many tabs the hidden share equals the fraction, spread evenly from the first tab on', () => {
  for (const fraction of [0, 0.1, 1 / 3, 0.5, 0.75, 1]) {
    const tabs = allTabs(100, 7, fraction, 'every-tab');
    assert.equal(tabs.length, 700);
    let hidden = 0;
    tabs.forEach((isHidden, i) => {
      if (isHidden) hidden++;
      assert.equal(hidden, Math.floor((i + 1) * fraction), `fraction ${fraction}: the first ${i + 1} tabs`);
    });
  }
});

test('in leader mode the leader is never hidden and the other tabs are hidden as in every-tab mode', () => {
  for (const fraction of [0.5, 0.75, 1]) {
    const leader = allTabs(50, 4, fraction, 'leader');
    const everyTab = allTabs(50, 4, fraction, 'every-tab');
    leader.forEach((isHidden, i) => {
      if (i % 4 === 0) assert.equal(isHidden, false, `fraction ${fraction}: leader of browser ${i / 4}`);
      else assert.equal(isHidden, everyTab[i], `fraction ${fraction}: tab ${i}`);
    });
  }
  assert.ok(
    allTabs(50, 4, 1, 'leader').every((isHidden, i) => isHidden === i % 4 > 0),
    'all hidden but the leaders',
  );
});

test('a hidden tab waits 4 s plus 1 to 20 s between polls', () => {
  assert.deepEqual(HIDDEN_DELAY, [4, 1, 20]);
  assert.equal(hiddenPollDelayMs(HIDDEN_DELAY, 0), 5000);
  assert.equal(hiddenPollDelayMs(HIDDEN_DELAY, 0.5), 14_500);
  const longest = hiddenPollDelayMs(HIDDEN_DELAY, 0.999_999);
  assert.ok(longest < 24_000 && longest > 23_999, `longest: ${longest}`);
});

test('the measure window follows the warm-up and holds its start but not its end', () => {
  const w = measureWindow(1000, { warmup: 2, duration: 3 });
  assert.deepEqual(w, { start: 3000, end: 6000 });
  assert.equal(isMeasured(2999, w), false, 'warm-up');
  assert.equal(isMeasured(3000, w), true);
  assert.equal(isMeasured(5999, w), true);
  assert.equal(isMeasured(6000, w), false, 'drain');
});
