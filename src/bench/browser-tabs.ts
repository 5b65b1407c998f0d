// The chat page in a real Chromium tab, seen through the page's window.busbench hooks
// (web/tab-state.ts): launch Chromium, open a tab and wait until it is ready, read its
// state, post from it through the browser's own connections.
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { BusbenchTabState, ReceivedMessage, TabModeName, TabTransportName } from '../../web/tab-state.js';
import { errors } from '../lib/errors.js';

const CHROMIUM = '/usr/bin/chromium';

export function chromiumPath(): string | undefined {
  return existsSync(CHROMIUM) ? CHROMIUM : undefined;
}

export function assertChromium(): void {
  if (!chromiumPath()) throw errors.config('--browser', `needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

export function launchChromium(): Promise<Browser> {
  assertChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      // Chromium's own traffic (updates, sync) must not mix with the page's connections.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export type Received = ReceivedMessage;
/** window.busbench without its function, as the page reported it. */
export type TabState = Omit<BusbenchTabState, 'post'>;

export function tabUrl(
  appUrl: string,
  login: string,
  mode: TabModeName,
  transport: TabTransportName = 'longpoll',
): string {
  return `${appUrl}/?login=${encodeURIComponent(login)}&mode=${mode}&transport=${transport}`;
}

/** Opens a tab of `context` on the chat page and resolves once the page says it is ready. */
export async function openTab(
  context: BrowserContext,
  url: string,
  timeoutMs: number,
  onError: (message: string) => void = () => {},
): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => onError(err.message));
  const started = Date.now();
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
  // Functions passed to the page run there: they may use only their arguments and globals.
  await page.waitForFunction(
    () => (globalThis as unknown as { busbench?: BusbenchTabState }).busbench?.ready === true,
    undefined,
    { timeout: Math.max(1, timeoutMs - (Date.now() - started)), polling: 100 },
  );
  return page;
}

export function tabState(page: Page): Promise<TabState> {
  return page.evaluate(() => {
    const b = (globalThis as unknown as { busbench?: BusbenchTabState }).busbench;
    if (!b) throw new Error('window.busbench is missing');
    return {
      ready: b.ready,
      mode: b.mode,
      transport: b.transport,
      isLeader: b.isLeader,
      leaderSince: b.leaderSince,
      userId: b.userId,
      last: b.last,
      received: b.received.map((r) => ({ ...r })),
      duplicates: b.duplicates,
      pollsInFlight: b.pollsInFlight,
    };
  });
}

/** Posts from the tab, through the browser's own connections; the HTTP status, 0 if the page threw. */
export function postFrom(page: Page, channelId: number, body: string, clientId: string): Promise<number> {
  return page
    .evaluate(
      (a) => (globalThis as unknown as { busbench: BusbenchTabState }).busbench.post(a.channelId, a.body, a.clientId),
      {
        channelId,
        body,
        clientId,
      },
    )
    .catch(() => 0);
}

/** One open tab of the bench: browser b's tab t has key "b/t". */
export interface Tab {
  key: string;
  browser: number;
  page: Page;
}

export async function snapshot(tabs: Tab[]): Promise<Map<string, TabState>> {
  const states = await Promise.all(tabs.map((t) => tabState(t.page)));
  return new Map(tabs.map((t, i) => [t.key, states[i] as TabState]));
}
