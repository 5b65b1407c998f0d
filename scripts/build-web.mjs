// Bundles the chat page and its shared worker into dist/web, where the layouts serve them
// (src/web-assets.ts), and copies the page's static files beside them. Run by `npm run build`.
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/web`;
const STATIC = ['index.html', 'page.css'];

const common = {
  bundle: true,
  target: 'es2020',
  sourcemap: true,
  // Kept readable: the page is part of what busbench shows, and its bundle is small.
  minify: false,
  logLevel: 'warning',
  absWorkingDir: root,
};

await mkdir(out, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: ['web/page.ts'], outfile: `${out}/page.js`, format: 'esm' }),
  // A SharedWorker started without { type: 'module' } runs a classic script.
  build({ ...common, entryPoints: ['web/shared-worker.ts'], outfile: `${out}/shared-worker.js`, format: 'iife' }),
  ...STATIC.map((name) => copyFile(`${root}web/${name}`, `${out}/${name}`)),
]);
