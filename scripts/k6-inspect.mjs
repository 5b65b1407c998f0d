// Part of `npm run lint`: every k6 script must parse on the k6 on PATH. k6 before v0.53
// compiles scripts with its own Babel, which rejects syntax (object spread, optional
// chaining) that tsc and biome accept, and the script then dies before its first request.
// Without k6 this says so and passes, except under CI=true, where .ci/run puts k6 on PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const found = spawnSync('k6', ['version'], { encoding: 'utf8' });
if (found.error || found.status !== 0) {
  console.error('k6-inspect: no k6 on PATH, so the k6 scripts were not parsed (CI has one)');
  process.exit(process.env.CI === 'true' ? 1 : 0);
}
const version = found.stdout.trim().split(' ').slice(0, 2).join(' ');
const scripts = readdirSync('loadtests').filter((f) => f.endsWith('.js'));
let failed = 0;
for (const script of scripts) {
  try {
    execFileSync('k6', ['inspect', `loadtests/${script}`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    failed++;
    // k6 prints the error as a logfmt line with escaped newlines: its first line is the reason.
    const said = String(err.stderr ?? err.message).match(/SyntaxError.*?(?=\\n|\n|"|$)/)?.[0] ?? err.message;
    console.error(`k6-inspect: ${version} cannot load loadtests/${script}: ${said}`);
  }
}
if (failed > 0) process.exit(1);
console.log(`k6-inspect: ${scripts.length} scripts parse on ${version}`);
