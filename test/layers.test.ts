// The layer check of `npm run lint` (dependency-cruiser with .dependency-cruiser.cjs) run on
// small planted trees, written into a temporary directory beside copies of the repo's config and
// tsconfig. A rule that matches nothing, or a setup that resolves no import at all (which would
// let every tree pass), fails here. Every case below plants its files into one tree, cruised
// once because a cruise costs seconds; each case then checks the violations its own files cause.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
/** The folders `npm run lint` cruises; only those a planted tree has are passed. */
const CRUISED = ['src', 'loadtests', 'web', 'test', 'scripts'];

type Files = Record<string, string>;

interface Cruise {
  code: number;
  output: string;
  /** Each reported violation as `rule: from → to`, a cycle as `no-circular: a → b → a`. */
  violations: string[];
}

/** Writes `files` (path -> text) into a fresh directory and runs the layer check there. */
async function cruise(files: Files): Promise<Cruise> {
  const dir = await mkdtemp(join(tmpdir(), 'busbench-layers-'));
  try {
    await copyFile(join(ROOT, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
    await copyFile(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    const folders = CRUISED.filter((f) => Object.keys(files).some((path) => path.startsWith(`${f}/`)));
    const { code, output } = await new Promise<{ code: number; output: string }>((done) => {
      execFile(
        process.execPath,
        [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', 'err-long', ...folders],
        { cwd: dir },
        (error, stdout, stderr) => {
          done({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` });
        },
      );
    });
    // err-long breaks a cycle over several lines, one module per line.
    const joined = output.replace(/ →\s*\n\s+/g, ' → ');
    const violations = [...joined.matchAll(/^ {2}error (\S+: \S+(?: → \S+)+)/gm)].map((m) => m[1] ?? '');
    return { code, output, violations };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Case {
  name: string;
  files: Files;
  /** What the check must report from this case's files, and nothing else. */
  violations: string[];
}

const DEV_DEPENDENCY_TREE: Files = {
  'package.json': JSON.stringify({ type: 'module', dependencies: { shipped: '1' }, devDependencies: { devonly: '1' } }),
  'node_modules/shipped/package.json': JSON.stringify({ name: 'shipped', main: 'index.js' }),
  'node_modules/shipped/index.js': 'export const shipped = 1;\n',
  'node_modules/devonly/package.json': JSON.stringify({ name: 'devonly', main: 'index.js' }),
  'node_modules/devonly/index.js': 'export const dev = 1;\n',
};

const CASES: Case[] = [
  {
    name: 'an import that does not resolve fails not-to-unresolvable, so no rule is silently skipped',
    files: { 'src/app/unresolved.ts': "import { x } from './missing.js';\nexport const y = x;\n" },
    violations: ['not-to-unresolvable: src/app/unresolved.ts → ./missing.js'],
  },
  {
    name: 'src/lib importing src/app fails lib-imports-only-lib',
    files: {
      'src/app/y.ts': 'export const y = 1;\n',
      'src/lib/x.ts': "import { y } from '../app/y.js';\nexport const x = y;\n",
    },
    violations: ['lib-imports-only-lib: src/lib/x.ts → src/app/y.ts'],
  },
  {
    name: 'src/app importing a layout fails app-imports-only-app-and-lib',
    files: {
      'src/topologies/single.ts': 'export const t = 1;\n',
      'src/app/app.ts': "import { t } from '../topologies/single.js';\nexport const a = t;\n",
    },
    violations: ['app-imports-only-app-and-lib: src/app/app.ts → src/topologies/single.ts'],
  },
  {
    name: 'a layout importing the bench or the cli fails topologies-import-only-topologies-app-and-lib',
    files: {
      'src/bench/bench.ts': 'export const b = 1;\n',
      'src/cli/main.ts': 'export const m = 1;\n',
      'src/topologies/cluster.ts':
        "import { b } from '../bench/bench.js';\nimport { m } from '../cli/main.js';\nexport const t = b + m;\n",
    },
    violations: [
      'topologies-import-only-topologies-app-and-lib: src/topologies/cluster.ts → src/bench/bench.ts',
      'topologies-import-only-topologies-app-and-lib: src/topologies/cluster.ts → src/cli/main.ts',
    ],
  },
  {
    name: 'a two-file cycle fails no-circular even when one side is a type-only import',
    files: {
      'src/app/a.ts': "import { b } from './b.js';\nexport interface A {\n  n: number;\n}\nexport const a = b;\n",
      'src/app/b.ts': "import type { A } from './a.js';\nexport const b: A = { n: 1 };\n",
    },
    violations: ['no-circular: src/app/a.ts → src/app/b.ts → src/app/a.ts'],
  },
  {
    name: 'the bench may import only layout-process.ts from src/topologies, and nothing from src/app or src/cli',
    files: {
      'src/app/y.ts': 'export const y = 1;\n',
      'src/cli/main.ts': 'export const m = 1;\n',
      'src/topologies/index.ts': 'export const t = 1;\n',
      'src/topologies/layout-process.ts': 'export const spawn = 1;\n',
      'src/lib/net.ts': 'export const port = 1;\n',
      'loadtests/lib/profiles.js': 'export const PROFILES = {};\n',
      'web/tab-state.ts': 'export interface TabState {\n  n: number;\n}\n',
      'src/bench/z.ts': [
        "import { y } from '../app/y.js';",
        "import { m } from '../cli/main.js';",
        "import { t } from '../topologies/index.js';",
        "import { spawn } from '../topologies/layout-process.js';",
        "import { port } from '../lib/net.js';",
        "import { PROFILES } from '../../loadtests/lib/profiles.js';",
        "import type { TabState } from '../../web/tab-state.js';",
        'export const z: TabState = { n: y + m + t + spawn + port + Object.keys(PROFILES).length };',
        '',
      ].join('\n'),
    },
    violations: [
      'bench-talks-to-a-layout-only-from-outside: src/bench/z.ts → src/app/y.ts',
      'bench-talks-to-a-layout-only-from-outside: src/bench/z.ts → src/cli/main.ts',
      'bench-talks-to-a-layout-only-from-outside: src/bench/z.ts → src/topologies/index.ts',
    ],
  },
  {
    name: 'the cli may import any layer and loadtests/lib, but not web/ or a k6 script',
    files: {
      'src/bench/bench.ts': 'export const b = 1;\n',
      'loadtests/lib/tab.js': 'export const tab = 1;\n',
      'loadtests/tabs.js': 'export const script = 1;\n',
      'web/page.ts': 'export const page = 1;\n',
      'src/cli/serve.ts': [
        "import { b } from '../bench/bench.js';",
        "import { tab } from '../../loadtests/lib/tab.js';",
        "import { script } from '../../loadtests/tabs.js';",
        "import { page } from '../../web/page.js';",
        'export const m = b + tab + script + page;',
        '',
      ].join('\n'),
    },
    violations: [
      'cli-imports-only-src-and-loadtests-lib: src/cli/serve.ts → loadtests/tabs.js',
      'cli-imports-only-src-and-loadtests-lib: src/cli/serve.ts → web/page.ts',
    ],
  },
  {
    name: 'src/study may import the bench and lib but not a layout or the app, and only the cli and tests import it',
    files: {
      'src/bench/bench.ts': 'export const b = 1;\n',
      'src/lib/net.ts': 'export const port = 1;\n',
      'src/app/y.ts': 'export const y = 1;\n',
      'src/topologies/index.ts': 'export const t = 1;\n',
      'src/study/study.ts': [
        "import { b } from '../bench/bench.js';",
        "import { port } from '../lib/net.js';",
        "import { y } from '../app/y.js';",
        "import { t } from '../topologies/index.js';",
        'export const s = b + port + y + t;',
        '',
      ].join('\n'),
      'src/cli/main.ts': 'export const m = 1;\n',
      'src/cli/study.ts': "import { s } from '../study/study.js';\nexport const c = s;\n",
      'test/study.test.ts': "import { s } from '../src/study/study.js';\nexport const x = s;\n",
      'src/bench/uses-study.ts': "import { s } from '../study/study.js';\nexport const u = s;\n",
    },
    violations: [
      'study-imports-only-study-bench-and-lib: src/study/study.ts → src/app/y.ts',
      'study-imports-only-study-bench-and-lib: src/study/study.ts → src/topologies/index.ts',
      'bench-talks-to-a-layout-only-from-outside: src/bench/uses-study.ts → src/study/study.ts',
      'only-cli-and-tests-import-study: src/bench/uses-study.ts → src/study/study.ts',
    ],
  },
  {
    name: 'a plain-JS k6 script importing src/ or web/ fails loadtests-not-to-src-or-web',
    files: {
      'src/lib/net.ts': 'export const port = 1;\n',
      'web/concurrency.ts': 'export const mutex = 1;\n',
      'loadtests/lib/delivery.js': "import { port } from '../../src/lib/net.js';\nexport const delivery = port;\n",
      'loadtests/chat-storm.js':
        "import { mutex } from '../web/concurrency.js';\nexport default function () {\n  return mutex;\n}\n",
    },
    violations: [
      'loadtests-not-to-src-or-web: loadtests/lib/delivery.js → src/lib/net.ts',
      'loadtests-not-to-src-or-web: loadtests/chat-storm.js → web/concurrency.ts',
    ],
  },
  {
    name: 'browser code importing src/, loadtests/ or test/ fails web-not-to-node-side',
    files: {
      'src/lib/net.ts': 'export const port = 1;\n',
      'loadtests/lib/tab.js': 'export const tab = 1;\n',
      'test/helpers.ts': 'export const helper = 1;\n',
      'web/chat.ts': [
        "import { tab } from '../loadtests/lib/tab.js';",
        "import { port } from '../src/lib/net.js';",
        "import { helper } from '../test/helpers.js';",
        'export const chat = port + tab + helper;',
        '',
      ].join('\n'),
    },
    violations: [
      'web-not-to-node-side: web/chat.ts → loadtests/lib/tab.js',
      'web-not-to-node-side: web/chat.ts → src/lib/net.ts',
      'web-not-to-node-side: web/chat.ts → test/helpers.ts',
      'not-to-test: web/chat.ts → test/helpers.ts',
    ],
  },
  {
    name: 'only tests import test/: anything else fails not-to-test',
    files: {
      'test/helpers.ts': 'export const helper = 1;\n',
      'test/a.test.ts': "import { helper } from './helpers.js';\nexport const a = helper;\n",
      'scripts/build.mjs': "import { helper } from '../test/helpers.js';\nexport const s = helper;\n",
    },
    violations: ['not-to-test: scripts/build.mjs → test/helpers.ts'],
  },
  {
    name: 'src importing a devDependency fails src-not-to-dev-dependency unless the import is type-only',
    files: {
      ...DEV_DEPENDENCY_TREE,
      'src/bench/browser.ts':
        "import { dev } from 'devonly';\nimport { shipped } from 'shipped';\nexport const b = dev + shipped;\n",
      'src/bench/types.ts': "import type { dev } from 'devonly';\nexport type D = typeof dev;\n",
      'test/page.test.ts': "import { dev } from 'devonly';\nexport const p = dev;\n",
    },
    violations: ['src-not-to-dev-dependency: src/bench/browser.ts → node_modules/devonly/index.js'],
  },
];

/** Every case's files in one tree; a path two cases share must hold the same text in both. */
function plantedTree(): Files {
  const tree: Files = {};
  for (const c of CASES) {
    for (const [path, text] of Object.entries(c.files)) {
      assert.ok(tree[path] === undefined || tree[path] === text, `two cases plant different ${path}`);
      tree[path] = text;
    }
  }
  return tree;
}

let planted: Promise<Cruise> | undefined;

for (const c of CASES) {
  test(c.name, async () => {
    planted ??= cruise(plantedTree());
    const result = await planted;
    const own = result.violations.filter((v) => Object.hasOwn(c.files, v.split(' ')[1] ?? ''));
    assert.deepEqual(own.sort(), [...c.violations].sort(), result.output);
    assert.notEqual(result.code, 0, result.output);
  });
}

test('a clean layout passes, with every .js specifier resolved to its .ts file', async () => {
  const result = await cruise({
    'src/lib/errors.ts': 'export const code = 1;\n',
    'src/app/app.ts': "import { code } from '../lib/errors.js';\nexport const app = code;\n",
    'src/topologies/single.ts':
      "import { app } from '../app/app.js';\nimport type { code } from '../lib/errors.js';\nexport const t: typeof code = app;\n",
    'src/topologies/layout-process.ts': "import { t } from './single.js';\nexport { t };\n",
    'src/bench/bench.ts': "import { t } from '../topologies/layout-process.js';\nexport const b = t;\n",
  });
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /no dependency violations found \(5 modules, 5 dependencies cruised\)/);
});
