// Bundles each loadtests/<profile>.js into dist/k6/<profile>.js, one CommonJS file that k6
// runs with --compatibility-mode=base. k6 before v0.53 otherwise pushes every script through
// its built-in Babel on start, which took 8 s of CPU per run here (k6 v0.46, 2 cores):
// `busbench bench --engine k6` starts k6 once per case. Run by `npm run build`; the scripts
// in loadtests/ stay what users run by hand.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const scripts = readdirSync(`${root}loadtests`).filter((f) => f.endsWith('.js'));

await build({
  entryPoints: scripts.map((f) => `loadtests/${f}`),
  outdir: `${root}dist/k6`,
  bundle: true,
  format: 'cjs',
  platform: 'neutral',
  // Syntax every k6 from v0.46 runs without Babel (async functions included).
  target: 'es2017',
  external: ['k6', 'k6/*'],
  minify: false,
  logLevel: 'warning',
  absWorkingDir: root,
});
