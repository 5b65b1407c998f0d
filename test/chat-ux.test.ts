// The chat page as a person uses it, in real Chromium against a real layout: the view stays
// where the user scrolled while messages arrive, a press on a channel survives a message that
// renders under it, and every tab of a browser counts unread messages, in its channel list and
// its title, in each tab mode, until the user views the channel.
// Seed (SMALL_DATA): everyone is in channel 1 "general"; user3 and user7 are also in channel 5.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openTab, tabState, tabUrl } from '../src/bench/browser-tabs.js';
import type { TabModeName } from '../web/tab-state.js';
import { chromiumPath, skipWithoutChromium } from './chromium.js';
import { eventually, type Layout, login, post, startLayout } from './helpers.js';

const SCREENSHOT = fileURLToPath(new URL('../../test-artifacts/chat-unread.png', import.meta.url));
const GENERAL = 1;
/** user3's other channel, which user7 shares (seed: 2 + id % 4). */
const SIDE = 5;
const TABS = 10;
const POLL_TIMEOUT = ['--poll-timeout', '10'];
const OPEN_TIMEOUT_MS = 120_000;
const WAIT_MS = 20_000;

interface Badge {
  hidden: boolean;
  text: string;
}

interface ScrollState {
  top: number;
  /** Distance from the end: 0 at the bottom. */
  fromBottom: number;
  /** The first row at least partly in view, and where it is relative to the list's top. */
  anchorId: string;
  anchorOffset: number;
  rows: number;
}

// Strings, not functions: the project compiles without the DOM library.
const rowCount = "document.querySelectorAll('#messages li').length";
const badgeOf = (channelId: number) =>
  `(() => { const b = document.querySelector('#channels button[data-channel-id="${channelId}"] .unread');
     return { hidden: b.hidden, text: b.textContent }; })()`;
const scrollState = `(() => {
  const list = document.getElementById('messages');
  const box = list.getBoundingClientRect();
  const anchor = [...list.children].find((li) => li.getBoundingClientRect().bottom > box.top);
  return {
    top: list.scrollTop,
    fromBottom: list.scrollHeight - list.scrollTop - list.clientHeight,
    anchorId: anchor.dataset.messageId,
    anchorOffset: anchor.getBoundingClientRect().top - box.top,
    rows: list.children.length,
  };
})()`;
const shows = (channelId: number) => `document.getElementById('messages').dataset.channelId === '${channelId}'`;

async function waitFor(page: Page, expression: string): Promise<void> {
  await page.waitForFunction(expression, undefined, { timeout: WAIT_MS, polling: 100 });
}

interface OneBrowser {
  browser: Browser;
  tabs: Page[];
  /** Uncaught exceptions in any tab. */
  errors: string[];
}

/** One browser (one user, one connection pool) with `count` tabs of the page showing "general". */
async function openBrowser(layout: Layout, mode: TabModeName, count: number): Promise<OneBrowser> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const errors: string[] = [];
    const url = `${tabUrl(layout.url, 'user3', mode)}&channel=${GENERAL}`;
    const tabs = await Promise.all(
      Array.from({ length: count }, () => openTab(context, url, OPEN_TIMEOUT_MS, (m) => errors.push(m))),
    );
    // ready does not wait for the history (in every-tab mode it may queue behind parked polls).
    for (const tab of tabs) await waitFor(tab, shows(GENERAL));
    return { browser, tabs, errors };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

async function postAs(layout: Layout, token: string, channelId: number, bodies: string[]): Promise<void> {
  for (const body of bodies) {
    const reply = await post(layout, token, channelId, body);
    assert.equal(reply.status, 201, reply.text);
  }
}

const numbered = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} ${i + 1}`);

/** Every tab's title and SIDE badge, once they all read `title` (or the timeout, then as they are). */
async function everyTabShows(tabs: Page[], title: string): Promise<{ titles: string[]; badges: Badge[] }> {
  const read = async () => ({
    titles: await Promise.all(tabs.map((tab) => tab.title())),
    badges: await Promise.all(tabs.map((tab) => tab.evaluate<Badge>(badgeOf(SIDE)))),
  });
  return eventually(async () => {
    const seen = await read();
    return seen.titles.every((t) => t === title) ? seen : undefined;
  }, WAIT_MS).catch(read);
}

describe('chat page: scrolling, clicks, focus and alerts in one tab', () => {
  let layout: Layout;
  let user7: string;
  let one: OneBrowser | undefined;
  let tab: Page;
  let errors: string[] = [];

  before(async () => {
    layout = await startLayout('dedicated-longpoll', POLL_TIMEOUT);
    user7 = await login(layout, 'user7');
    // More history than the list can show at once, so there is something to scroll.
    await postAs(layout, user7, GENERAL, numbered('older', 40));
    // Without Chromium each test skips (or fails under CI) on its own.
    if (!chromiumPath()) return;
    one = await openBrowser(layout, 'every-tab', 1);
    [tab] = one.tabs as [Page];
    errors = one.errors;
  });
  after(async () => {
    await one?.browser.close();
    assert.equal(await layout.stop(), 0, layout.log());
  });

  test('scrolled up, the view stays put while messages arrive, and a marker counts them and jumps to the end', async (t) => {
    if (skipWithoutChromium(t)) return;
    await waitFor(tab, `${rowCount} >= 40`);
    const opened = await tab.evaluate<ScrollState>(scrollState);
    assert.ok(opened.fromBottom <= 1, `a channel opens at its end: ${JSON.stringify(opened)}`);

    // As a person scrolls: the wheel over the list.
    const list = await tab.locator('#messages').boundingBox();
    assert.ok(list);
    await tab.mouse.move(list.x + list.width / 2, list.y + list.height / 2);
    await tab.mouse.wheel(0, -400);
    const scrolled = await eventually(async () => {
      const a = await tab.evaluate<ScrollState>(scrollState);
      await new Promise((r) => setTimeout(r, 300));
      const b = await tab.evaluate<ScrollState>(scrollState);
      return a.top === b.top && b.fromBottom > 100 ? b : undefined;
    });

    await postAs(layout, user7, GENERAL, numbered('while scrolled up', 3));
    await waitFor(tab, `${rowCount} === ${scrolled.rows + 3}`);
    const after = await tab.evaluate<ScrollState>(scrollState);
    assert.equal(after.top, scrolled.top, 'scrollTop unchanged');
    assert.equal(after.anchorId, scrolled.anchorId, 'the same message at the top of the view');
    assert.ok(Math.abs(after.anchorOffset - scrolled.anchorOffset) < 1, 'at the same place');
    assert.ok(after.fromBottom > 100, `still scrolled up: ${JSON.stringify(after)}`);
    assert.equal(await tab.locator('#new-messages').isVisible(), true);
    assert.equal(await tab.locator('#new-messages').textContent(), '3 new messages ↓');
    assert.equal(await tab.title(), 'busbench chat', 'the shown channel of a visible tab has nothing unread');

    await tab.click('#new-messages');
    const bottom = await tab.evaluate<ScrollState>(scrollState);
    assert.ok(bottom.fromBottom <= 1, `the marker jumps to the end: ${JSON.stringify(bottom)}`);
    assert.equal(await tab.locator('#new-messages').isVisible(), false);

    // At the bottom, the list follows what arrives.
    await postAs(layout, user7, GENERAL, ['at the bottom']);
    await waitFor(tab, `${rowCount} === ${scrolled.rows + 4}`);
    const followed = await tab.evaluate<ScrollState>(scrollState);
    assert.ok(followed.fromBottom <= 1, `stays at the bottom: ${JSON.stringify(followed)}`);
    assert.equal(await tab.locator('#new-messages').isVisible(), false);
    assert.deepEqual(errors, []);
  });

  test('focus, typed text and a text selection survive arriving messages', async (t) => {
    if (skipWithoutChromium(t)) return;
    await tab.click('#composer input[name=body]');
    await tab.keyboard.type('half a thought');
    const rows = await tab.evaluate<number>(rowCount);
    await postAs(layout, user7, GENERAL, ['while typing']);
    await waitFor(tab, `${rowCount} === ${rows + 1}`);
    assert.equal(await tab.evaluate<string>('document.activeElement.name'), 'body');
    assert.equal(await tab.inputValue('#composer input[name=body]'), 'half a thought');

    const selected = await tab.evaluate<string>(`(() => {
      const body = document.querySelector('#messages li:last-child').children[1];
      getSelection().selectAllChildren(body);
      return getSelection().toString();
    })()`);
    assert.equal(selected, 'while typing');
    await postAs(layout, user7, GENERAL, ['while reading']);
    await waitFor(tab, `${rowCount} === ${rows + 2}`);
    assert.equal(await tab.evaluate<string>('getSelection().toString()'), 'while typing');
    assert.equal(await tab.evaluate<boolean>('getSelection().anchorNode.isConnected'), true);
  });

  test('a click whose press and release straddle an arriving message still switches channel', async (t) => {
    if (skipWithoutChromium(t)) return;
    const button = await tab.locator(`#channels button[data-channel-id="${SIDE}"] .channel-name`).boundingBox();
    assert.ok(button);
    const rows = await tab.evaluate<number>(rowCount);
    await tab.mouse.move(button.x + button.width / 2, button.y + button.height / 2);
    await tab.mouse.down();
    // Between press and release, a message in the pressed channel and one in the shown one render.
    await postAs(layout, user7, SIDE, ['under the pointer']);
    await postAs(layout, user7, GENERAL, ['in the shown channel']);
    await waitFor(tab, `${rowCount} === ${rows + 1} && ${badgeOf(SIDE)}.text === '1'`);
    assert.equal(await tab.title(), '(1) busbench chat');
    await tab.mouse.up();

    await waitFor(tab, shows(SIDE));
    assert.equal(
      await tab.getAttribute(`#channels button[data-channel-id="${SIDE}"]`, 'aria-current'),
      'true',
      'the pressed channel is the current one',
    );
    await waitFor(tab, `${badgeOf(SIDE)}.hidden`);
    assert.equal(await tab.title(), 'busbench chat', 'viewing the channel clears its count');
  });

  test('the channel heading reads as a heading, and the error line is an alert only while there is an error', async (t) => {
    if (skipWithoutChromium(t)) return;
    const heading = await tab.evaluate<{ text: string; transform: string; size: number; labelSize: number }>(`(() => {
      const h = document.getElementById('channel-title');
      const label = document.querySelector('nav h2');
      return {
        text: h.textContent,
        transform: getComputedStyle(h).textTransform,
        size: parseFloat(getComputedStyle(h).fontSize),
        labelSize: parseFloat(getComputedStyle(label).fontSize),
      };
    })()`);
    assert.equal(heading.text, '# channel5 5 members');
    assert.equal(heading.transform, 'none');
    assert.ok(heading.size > heading.labelSize * 1.3, JSON.stringify(heading));

    const alert = tab.locator('#error');
    assert.equal(await alert.getAttribute('role'), 'alert');
    assert.equal(await alert.isVisible(), false);
    assert.equal(await tab.evaluate<number>("document.getElementById('error').offsetHeight"), 0, 'no blank band');
    // An empty body is refused (400): the alert says why.
    assert.equal(await tab.evaluate<number>(`window.busbench.post(${SIDE}, '')`), 400);
    assert.equal(await alert.isVisible(), true);
    assert.match((await alert.textContent()) ?? '', /^not sent \(400\): /);
    assert.equal(await tab.evaluate<number>(`window.busbench.post(${SIDE}, 'fine now')`), 201);
    assert.equal(await alert.isVisible(), false);
    assert.deepEqual(errors, []);
  });

  test('in a hidden tab the shown channel counts unread too, until the tab is shown again', async (t) => {
    if (skipWithoutChromium(t)) return;
    // Headless tabs are always visible: the tab is hidden as the page sees it.
    const setVisibility = (state: 'hidden' | 'visible') =>
      tab.evaluate(`(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => '${state}' });
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => ${state === 'hidden'} });
        document.dispatchEvent(new Event('visibilitychange'));
      })()`);
    assert.equal(await tab.evaluate<boolean>(shows(SIDE)), true);
    await setVisibility('hidden');
    await postAs(layout, user7, SIDE, ['while you were away']);
    await waitFor(tab, `${badgeOf(SIDE)}.text === '1'`);
    assert.equal(await tab.title(), '(1) busbench chat');
    await setVisibility('visible');
    await waitFor(tab, `${badgeOf(SIDE)}.hidden`);
    assert.equal(await tab.title(), 'busbench chat');
  });
});

/**
 * The first tab as Chromium would show it with its tab strip: a headless screenshot has no
 * title bar, so the titles every tab reported are drawn above it.
 */
async function saveScreenshot(browser: Browser, tab: Page, titles: string[]): Promise<void> {
  const shot = (await tab.screenshot()).toString('base64');
  const strip = titles
    .map(
      (title, i) =>
        `<div style="box-sizing:border-box;flex:0 0 calc(20% - 2px);padding:6px 10px;border-radius:8px 8px 0 0;background:${i === 0 ? '#fff' : '#eef0f3'}">` +
        `${title.replace(/[<&]/g, '')}</div>`,
    )
    .join('');
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 780 } })).newPage();
  await page.setContent(
    `<body style="margin:0;font:13px system-ui,sans-serif;background:#dee1e6">` +
      `<div style="display:flex;flex-wrap:wrap;gap:2px;padding:6px 6px 0">${strip}</div>` +
      `<img alt="" style="display:block" src="data:image/png;base64,${shot}"></body>`,
  );
  await mkdir(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
}

describe('chat page: unread counts and titles in every tab of a browser', () => {
  // Both bus origins: dedicated-longpoll's bus_url may be another origin, single-process's is the page's.
  const cases: { mode: TabModeName; topology: string; tabs: number }[] = [
    { mode: 'leader', topology: 'dedicated-longpoll', tabs: TABS },
    { mode: 'shared-worker', topology: 'single-process', tabs: TABS },
    // Three tabs: more would queue behind the browser's six connections, which browser.test.ts covers.
    { mode: 'every-tab', topology: 'dedicated-longpoll', tabs: 3 },
  ];
  for (const { mode, topology, tabs: count } of cases) {
    test(`${mode} (${topology}): posts to a channel no tab shows count in all ${count} tabs, and viewing it clears them`, async (t) => {
      if (skipWithoutChromium(t)) return;
      const layout = await startLayout(topology, POLL_TIMEOUT);
      try {
        const user7 = await login(layout, 'user7');
        // History: shown, never unread.
        await postAs(layout, user7, GENERAL, ['good morning', 'the build is green again']);
        const one = await openBrowser(layout, mode, count);
        try {
          const { tabs } = one;
          if (mode === 'leader') {
            const leaders = (await Promise.all(tabs.map(tabState))).filter((s) => s.isLeader);
            assert.equal(leaders.length, 1, 'one tab polls; the others only hear from it');
          }
          await postAs(layout, user7, SIDE, numbered(`${mode} unread`, 3));

          const unread = await everyTabShows(tabs, '(3) busbench chat');
          assert.deepEqual(
            unread.titles,
            tabs.map(() => '(3) busbench chat'),
          );
          assert.deepEqual(
            unread.badges,
            tabs.map(() => ({ hidden: false, text: '3' })),
          );
          for (const tab of tabs) {
            assert.equal((await tab.evaluate<Badge>(badgeOf(GENERAL))).hidden, true, 'the shown channel has none');
          }
          if (mode === 'leader') await saveScreenshot(one.browser, tabs[0] as Page, unread.titles);

          // The user views the channel in one tab: it is read there and, shared, in every other tab.
          const viewer = tabs[count - 1] as Page;
          await viewer.click(`#channels button[data-channel-id="${SIDE}"]`);
          await waitFor(viewer, shows(SIDE));
          const read = await everyTabShows(tabs, 'busbench chat');
          assert.deepEqual(
            read.titles,
            tabs.map(() => 'busbench chat'),
          );
          assert.deepEqual(
            read.badges,
            tabs.map(() => ({ hidden: true, text: '' })),
          );
          assert.deepEqual(one.errors, []);
        } finally {
          await one.browser.close();
        }
      } finally {
        await layout.stop();
      }
    });
  }
});
