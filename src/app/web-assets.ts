// The chat page and its bundles, as `npm run build` leaves them in dist/web
// (scripts/build-web.mjs). Each process or thread reads a file once, on first request.
import { readFile } from 'node:fs/promises';
import { errors } from '../lib/errors.js';

export interface WebFile {
  contentType: string;
  text: string;
}

const WEB_DIR = new URL('../../web/', import.meta.url);
const PAGE = 'index.html';
/** Only these names are served: tsc also compiles web/ modules into dist/web, and no path reaches past it. */
const ASSETS: Record<string, string> = {
  'page.js': 'text/javascript; charset=utf-8',
  'page.js.map': 'application/json',
  'page.css': 'text/css; charset=utf-8',
  'shared-worker.js': 'text/javascript; charset=utf-8',
  'shared-worker.js.map': 'application/json',
};

const cache = new Map<string, Promise<WebFile>>();

function load(name: string, contentType: string): Promise<WebFile> {
  let file = cache.get(name);
  if (!file) {
    file = readFile(new URL(name, WEB_DIR), 'utf8').then(
      (text) => ({ contentType, text }),
      () => {
        cache.delete(name);
        throw errors.notFound(`${name} is not built; run "npm run build" (it bundles web/ into dist/web)`);
      },
    );
    cache.set(name, file);
  }
  return file;
}

export function webPage(): Promise<WebFile> {
  return load(PAGE, 'text/html; charset=utf-8');
}

export function webAsset(name: string): Promise<WebFile> {
  const contentType = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!contentType) return Promise.reject(errors.notFound(`no asset named ${name}`));
  return load(name, contentType);
}
