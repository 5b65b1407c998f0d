// The chat page: every layout serves it and its bundles from the app processes, and two real
// Chromium users chat through it. Seed (SMALL_DATA): every user is in channel 1, "general".
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { chromiumPath, skipWithoutChromium } from './chromium.js';
import { type Layout, request, startLayout, TOPOLOGIES } from './helpers.js';

const SCREENSHOT = fileURLToPath(new URL('../../test-artifacts/chat.png', import.meta.url));
const CHAT_LAYOUT = 'dedicated-longpoll';

function errorCode(body: unknown): string | undefined {
  return (body as { error?: { code?: string } }).error?.code;
}

for (const topology of TOPOLOGIES) {
  describe(`page: ${topology}`, () => {
    let layout: Layout;

    before(async () => {
      layout = await startLayout(topology);
    });
    after(async () => {
      assert.equal(await layout.stop(), 0, layout.log());
    });

    test('GET / serves the chat page as HTML, without a session', async () => {
      const page = await request('GET', `${layout.url}/`);
      assert.equal(page.status, 200, page.text);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.match(page.text, /<script type="module" src="\/assets\/page\.js"><\/script>/);
      assert.match(page.text, /id="messages"/);
    });

    test('/assets/ serves the bundles as JavaScript', async () => {
      for (const name of ['page.js', 'shared-worker.js']) {
        const asset = await request('GET', `${layout.url}/assets/${name}`);
        assert.equal(asset.status, 200, `${name}: ${asset.text}`);
        assert.equal(asset.headers['content-type'], 'text/javascript; charset=utf-8');
        assert.match(asset.text, /sourceMappingURL=/, `${name} is the esbuild bundle`);
      }
      const page = await request('GET', `${layout.url}/assets/page.js`);
      assert.match(page.text, /busbench-bus-leader/, 'the page bundle holds the tab modes');
      const css = await request('GET', `${layout.url}/assets/page.css`);
      assert.equal(css.status, 200);
      assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    });

    test('an unknown asset, a compiled module that is no asset, or a path out of dist/web gets 404 JSON', async () => {
      const paths = [
        '/assets/nope.js',
        '/assets/concurrency.js',
        '/assets/..%2Findex.html',
        '/assets/..%2F..%2Fpackage.json',
      ];
      for (const path of [...paths, '/assets/a/b.js']) {
        const missing = await request('GET', `${layout.url}${path}`);
        assert.equal(missing.status, 404, path);
        assert.match(String(missing.headers['content-type']), /^application\/json/, path);
        assert.equal(errorCode(missing.body), 'E_NOT_FOUND', path);
      }
    });

    if (topology === 'dedicated-longpoll') {
      // With --bus-origin separate the bus process refuses the page: one-origin.test.ts.
      test('behind the front the page is served on the origin the bus is', async () => {
        assert.equal(layout.busUrl, layout.url);
        const page = await request('GET', `${layout.url}/`);
        assert.equal(page.status, 200);
        assert.match(String(page.headers['content-type']), /^text\/html/);
      });
    }

    if (topology === CHAT_LAYOUT) {
      test('user1 posts in general from the page; user2 sees it live, once', { timeout: 90_000 }, async (t) => {
        if (skipWithoutChromium(t)) return;
        await chatExchange(layout);
      });
    }
  });
}

async function openChat(browser: Browser, url: string, problems: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`${url}: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${url}: ${message.text()}`);
  });
  await page.goto(url);
  await page.waitForFunction('window.busbench?.ready === true', undefined, { timeout: 20_000 });
  // ready does not wait for the history (in every-tab mode it may queue behind parked polls).
  await page.waitForFunction("document.getElementById('messages').dataset.channelId === '1'");
  return page;
}

/** The bodies of the messages the page shows, in order. */
function shownMessages(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(
    "[...document.querySelectorAll('#messages li')].map((li) => li.children[1]?.textContent ?? '')",
  );
}

interface Received {
  busId: number;
  messageId: number;
  channelId: number;
  clientId: string | null;
}

async function chatExchange(layout: Layout): Promise<void> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const problems: string[] = [];
  try {
    // Two contexts: two browsers, so two sessions, as two people would have.
    const alice = await openChat(browser, `${layout.url}/?login=user1&channel=1`, problems);
    const bob = await openChat(browser, `${layout.url}/?login=user2&channel=1`, problems);
    assert.equal(
      await bob.evaluate<string>("document.getElementById('channel-title').textContent"),
      '# general 20 members',
    );

    // Through the UI, as a person would: type, press Enter.
    const text = `hello from the page ${Date.now()}`;
    await alice.fill('#composer input[name=body]', text);
    await alice.press('#composer input[name=body]', 'Enter');
    await bob.waitForFunction(
      `[...document.querySelectorAll('#messages li')].some((li) => li.textContent.includes(${JSON.stringify(text)}))`,
      undefined,
      { timeout: 15_000 },
    );
    // And through the hook the browser bench uses, with a client_id to trace it.
    const status = await alice.evaluate<number>(`window.busbench.post(1, 'second, by hook', 'trace-1')`);
    assert.equal(status, 201);
    await bob.waitForFunction("window.busbench.received.some((r) => r.clientId === 'trace-1')", undefined, {
      timeout: 15_000,
    });

    const received = await bob.evaluate<Received[]>('window.busbench.received');
    const inGeneral = received.filter((r) => r.channelId === 1);
    assert.equal(inGeneral.length, 2, JSON.stringify(received));
    assert.equal(inGeneral[1]?.clientId, 'trace-1');
    assert.ok((inGeneral[0]?.busId ?? 0) < (inGeneral[1]?.busId ?? 0), 'applied in bus id order');
    assert.equal(await bob.evaluate<number>('window.busbench.last'), inGeneral[1]?.busId);
    assert.equal(await bob.evaluate<number>('window.busbench.duplicates'), 0);
    assert.equal(await bob.evaluate<number>('window.busbench.userId'), 2);

    for (const page of [alice, bob]) {
      const shown = await shownMessages(page);
      assert.deepEqual(
        shown.filter((body) => body === text || body === 'second, by hook'),
        [text, 'second, by hook'],
        'each message shown once, in order',
      );
    }
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await bob.screenshot({ path: SCREENSHOT });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
}
