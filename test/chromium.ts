// Opens a report in a real headless Chromium, because a chart that fails only in a browser
// (a bad option, a script that never runs) passes every string check on the HTML.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path, { dirname } from 'node:path';
import type { TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { chromiumPath, launchChromium, openTab, tabUrl } from '../src/bench/browser-tabs.js';
import type { TabModeName, TabTransportName } from '../web/tab-state.js';
import { type BenchRun, benchRun, type Layout } from './helpers.js';
import { missingTool } from './tools.js';

export { chromiumPath };

const RENDER_TIMEOUT_MS = 15_000;
/** Long enough for a 7th tab whose page load queues behind six parked polls. */
const OPEN_TIMEOUT_MS = 120_000;

export interface OneBrowser {
  tabs: Page[];
  /** Uncaught exceptions in any tab. */
  errors: string[];
  close(): Promise<void>;
}

/** One browser (user3, one context: one connection pool, one SharedWorker) with `count` tabs of the page, all ready. */
export async function openBrowser(
  layout: Layout,
  mode: TabModeName,
  count: number,
  transport?: TabTransportName,
): Promise<OneBrowser> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const errors: string[] = [];
    const url = tabUrl(layout.url, 'user3', mode, transport);
    const tabs = await Promise.all(
      Array.from({ length: count }, () => openTab(context, url, OPEN_TIMEOUT_MS, (m) => errors.push(m))),
    );
    return { tabs, errors, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/** `busbench bench --browser ...flags` as a user runs it, in a folder `cleanUp` removes. */
export async function browserBench(flags: string[]): Promise<BenchRun & { cleanUp(): Promise<void> }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-browser-bench-'));
  return {
    ...(await benchRun(out, ['--browser', ...flags])),
    cleanUp: () => rm(out, { recursive: true, force: true }),
  };
}

export interface BrowserRender {
  consoleErrors: string[];
  /** Uncaught exceptions, charts that never finished drawing, and every blocked network request. */
  pageErrors: string[];
  /** Chart containers holding a drawn canvas or svg. */
  chartCount: number;
}

export async function renderInChromium(htmlFile: string, screenshotPath?: string): Promise<BrowserRender> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const consoleErrors: string[] = [];
    const pageErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The report must work offline: any request that would leave the file system is a failure.
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      pageErrors.push(`blocked network request: ${url}`);
      return route.abort();
    });
    await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
    try {
      await page.waitForFunction('document.body.dataset.chartsDone !== undefined', undefined, {
        timeout: RENDER_TIMEOUT_MS,
      });
    } catch {
      pageErrors.push(`charts did not finish drawing within ${RENDER_TIMEOUT_MS} ms`);
    }
    // A string, not a function: the project compiles without the DOM library.
    const chartCount = await page.evaluate<number>(`
      [...document.querySelectorAll('.chart')].filter((el) =>
        [...el.querySelectorAll('canvas, svg')].some((drawn) => drawn.getBoundingClientRect().width > 0),
      ).length`);
    if (screenshotPath) {
      await mkdir(dirname(screenshotPath), { recursive: true });
      await page.screenshot({ path: screenshotPath, fullPage: true });
    }
    return { consoleErrors, pageErrors, chartCount };
  } finally {
    await browser.close();
  }
}

/**
 * The files that do not open as SVG documents. A browser parses a standalone .svg as XML, so
 * one unescaped quote in an attribute turns the chart into an error page, while the same
 * markup inline in HTML would still draw.
 */
export async function unparsableSvgs(files: string[]): Promise<string[]> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const failed: string[] = [];
    for (const file of files) {
      await page.goto(pathToFileURL(file).href);
      const ok = await page.evaluate<boolean>(
        "document.documentElement.localName === 'svg' && document.getElementsByTagName('parsererror').length === 0",
      );
      if (!ok) failed.push(file);
    }
    return failed;
  } finally {
    await browser.close();
  }
}

/** Skips (or, under CI, fails) a test on a machine without Chromium. */
export function skipWithoutChromium(t: TestContext): boolean {
  return missingTool(
    t,
    chromiumPath(),
    'chromium not found at /usr/bin/chromium: apt-get install chromium (CI installs it)',
  );
}
