// The Grafana dashboards are JSON that nothing in busbench executes, so a typo in a field or a
// metric name would only show up as an empty panel in someone's Grafana. These tests check the
// JSON against @grafana/schema's types, check the conventions the dashboards promise (datasource
// variable, units, layout), and run every query against a real Prometheus.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { WebSocket } from 'ws';
import { parse as parseYaml } from 'yaml';
import { PROFILES } from '../loadtests/lib/profiles.js';
import { startDbExporter } from '../src/bench/db-exporter.js';
import { serveLoadMetrics } from '../src/bench/load-metrics.js';
import { Runner } from '../src/bench/runner.js';
import { type Layout, login, startLayout } from './helpers.js';
import { PROMETHEUS_MISSING, prometheusPath, startPrometheus } from './prometheus.js';
import { missingTool } from './tools.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DASHBOARDS = join(ROOT, 'dashboards');
const DATASOURCE_YAML = join(DASHBOARDS, 'provisioning/datasources/prometheus.yml');
const PROVIDER_YAML = join(DASHBOARDS, 'provisioning/dashboards/busbench.yml');
/** Where docker-compose mounts ./dashboards inside the Grafana container. */
const GRAFANA_DASHBOARD_PATH = '/var/lib/grafana/dashboards/busbench';
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable reference, meant literally
const PANEL_DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const UIDS = ['busbench-k6', 'busbench-layouts', 'busbench-postgres'];
/** The only variables a query may use: the live test substitutes exactly these. */
const QUERY_VARIABLES = new Set(['topology', 'testid', '__rate_interval']);

interface Target {
  refId?: string;
  expr?: string;
  datasource?: unknown;
}
interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface PanelJson {
  id: number;
  type: string;
  title?: string;
  description?: string;
  datasource?: unknown;
  gridPos: GridPos;
  fieldConfig?: { defaults?: { unit?: string } };
  options?: { legend?: { showLegend?: boolean } };
  targets?: Target[];
}
interface VariableJson {
  name: string;
  type: string;
  query?: unknown;
  datasource?: unknown;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  current?: { value?: unknown };
}
interface DashboardJson {
  uid: string;
  title: string;
  schemaVersion: number;
  tags: string[];
  time: { from: string; to: string };
  refresh: string;
  panels: PanelJson[];
  templating: { list: VariableJson[] };
}
interface DashboardFile {
  file: string;
  text: string;
  json: DashboardJson;
}

async function dashboardFiles(): Promise<DashboardFile[]> {
  const names = (await readdir(DASHBOARDS)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    names.map(async (file) => {
      const text = await readFile(join(DASHBOARDS, file), 'utf8');
      return { file, text, json: JSON.parse(text) as DashboardJson };
    }),
  );
}

const files = await dashboardFiles();

/** Panels that draw data; rows only group them. */
function dataPanels(d: DashboardJson): PanelJson[] {
  return d.panels.filter((p) => p.type !== 'row');
}

/** Every query of a dashboard, with the panel it belongs to. */
function queries(d: DashboardJson): { panel: string; refId: string; expr: string }[] {
  return dataPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title ?? `#${p.id}`, refId: t.refId ?? '?', expr: t.expr ?? '' })),
  );
}

// ---- 1. @grafana/schema types -----------------------------------------------------------------

const PREFIX = "import type { Dashboard } from '@grafana/schema';\nexport const dashboard: Dashboard = ";

/**
 * Type-checks each JSON text as an object literal typed `Dashboard`. A literal (not an imported
 * JSON module, whose strings widen to `string`) gets contextual typing, so TypeScript checks
 * union members such as graphTooltip's 0 | 1 | 2 and rejects properties the schema lacks.
 * Returns the errors per name, as `name.json:line:column: message`.
 */
function typeCheck(sources: Record<string, string>): Record<string, string[]> {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  };
  // Virtual files beside the tests, so '@grafana/schema' resolves from the project's node_modules.
  const virtual = new Map(
    Object.entries(sources).map(([name, text]) => [join(ROOT, 'test', `__dashboard_${name}.ts`), { name, text }]),
  );
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile: read } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f)?.text ?? read.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const v = virtual.get(f);
    if (v) return ts.createSourceFile(f, `${PREFIX}${v.text};\n`, language);
    return getSourceFile.call(host, f, language, ...rest);
  };
  const program = ts.createProgram([...virtual.keys()], options, host);
  const errors: Record<string, string[]> = {};
  for (const [path, { name }] of virtual) {
    const source = program.getSourceFile(path);
    assert.ok(source, `${path} was not compiled`);
    errors[name] = ts.getPreEmitDiagnostics(program, source).map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.file === undefined || d.start === undefined) return message;
      // The JSON starts on the second line of the virtual file, so its line numbers match the file's.
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      const lineText = d.file.text.split('\n')[line]?.trim();
      return `${name}.json:${line}:${character + 1}: ${message} (at ${lineText})`;
    });
  }
  return errors;
}

let checked: Record<string, string[]> | undefined;
/** One program for every dashboard and the broken variants (a program costs about a second). */
function typeErrors(): Record<string, string[]> {
  const first = files[0];
  assert.ok(first, 'no dashboards/*.json');
  const mutated = JSON.parse(first.text) as Record<string, unknown> & { panels: Record<string, unknown>[] };
  const badTooltip = { ...mutated, graphTooltip: 'x' };
  const badPanel = { ...mutated, panels: [{ ...mutated.panels[1], fieldConfg: {} }, ...mutated.panels.slice(2)] };
  checked ??= typeCheck({
    ...Object.fromEntries(files.map((f) => [f.file.replace(/\.json$/, ''), f.text])),
    'broken-tooltip': JSON.stringify(badTooltip, null, 2),
    'broken-panel': JSON.stringify(badPanel, null, 2),
  });
  return checked;
}

test('the three dashboards are there, with their stable uids', () => {
  assert.deepEqual(
    files.map((f) => f.file),
    ['k6.json', 'layout-comparison.json', 'postgres-contention.json'],
  );
  assert.deepEqual(files.map((f) => f.json.uid).sort(), UIDS);
});

for (const { file } of files) {
  test(`${file} type-checks against @grafana/schema's Dashboard`, () => {
    assert.deepEqual(typeErrors()[file.replace(/\.json$/, '')], []);
  });
}

test('the schema check rejects a wrong field type and a misspelt panel property', () => {
  const errors = typeErrors();
  assert.match(errors['broken-tooltip']?.join('\n') ?? '', /graphTooltip/);
  assert.match(errors['broken-panel']?.join('\n') ?? '', /fieldConfg/);
});

// ---- 2. Conventions ---------------------------------------------------------------------------

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

for (const { file, json: d } of files) {
  test(`${file}: current schema, tagged, last 15 minutes refreshed every 5 s`, () => {
    assert.ok(d.schemaVersion >= 39, `schemaVersion ${d.schemaVersion}`);
    assert.deepEqual(d.tags, ['busbench']);
    assert.deepEqual(d.time, { from: 'now-15m', to: 'now' });
    assert.equal(d.refresh, '5s');
  });

  test(`${file}: datasource, topology and testid variables`, () => {
    const byName = new Map(d.templating.list.map((v) => [v.name, v]));
    const ds = byName.get('datasource');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    for (const [name, query] of [
      ['topology', 'label_values(busbench_http_requests_total, topology)'],
      ['testid', 'label_values(k6_vus, testid)'],
    ] as const) {
      const v = byName.get(name);
      assert.ok(v, `variable ${name} missing`);
      assert.equal(v.type, 'query', name);
      assert.equal(v.query, query, name);
      assert.deepEqual(v.datasource, PANEL_DATASOURCE, name);
      assert.equal(v.multi, true, name);
      assert.equal(v.includeAll, true, name);
      assert.equal(v.allValue, '.*', name);
    }
  });

  test(`${file}: every panel queries \${datasource}, has a unit, a description and a legend`, () => {
    const problems: string[] = [];
    const panels = dataPanels(d);
    assert.ok(panels.length >= 5, `only ${panels.length} panels`);
    for (const p of panels) {
      const name = `${p.title} (#${p.id})`;
      if (!p.title) problems.push(`#${p.id}: no title`);
      if (!p.description) problems.push(`${name}: no description`);
      try {
        assert.deepEqual(p.datasource, PANEL_DATASOURCE);
      } catch {
        problems.push(`${name}: datasource ${JSON.stringify(p.datasource)}`);
      }
      if (!p.fieldConfig?.defaults?.unit) problems.push(`${name}: no unit`);
      if (p.type === 'timeseries' && p.options?.legend?.showLegend !== true) problems.push(`${name}: no legend`);
      if (!p.targets || p.targets.length === 0) problems.push(`${name}: no targets`);
      for (const t of p.targets ?? []) {
        if (!t.expr) problems.push(`${name} ${t.refId}: no expr`);
        if (JSON.stringify(t.datasource) !== JSON.stringify(PANEL_DATASOURCE)) {
          problems.push(`${name} ${t.refId}: datasource ${JSON.stringify(t.datasource)}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test(`${file}: queries use only $topology, $testid and $__rate_interval, and every range is $__rate_interval`, () => {
    const problems: string[] = [];
    for (const q of queries(d)) {
      for (const [, name] of q.expr.matchAll(/\$\{?(\w+)/g)) {
        if (name && !QUERY_VARIABLES.has(name)) problems.push(`${q.panel} ${q.refId}: $${name}`);
      }
      // A fixed [1m] breaks when the scrape interval changes; $__rate_interval follows it.
      for (const [range] of q.expr.matchAll(/\[[^\]]*\]/g)) {
        if (range !== '[$__rate_interval]') problems.push(`${q.panel} ${q.refId}: range ${range}`);
      }
      if (/\b(rate|increase)\(/.test(q.expr) && !q.expr.includes('[$__rate_interval]')) {
        problems.push(`${q.panel} ${q.refId}: rate() without $__rate_interval`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test(`${file}: panels have unique ids and do not overlap on the 24-column grid`, () => {
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids}`);
    const problems: string[] = [];
    d.panels.forEach((a, i) => {
      const g = a.gridPos;
      if (g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) problems.push(`${a.title}: ${JSON.stringify(g)}`);
      for (const b of d.panels.slice(i + 1)) {
        if (overlaps(g, b.gridPos)) problems.push(`${a.title} overlaps ${b.title}`);
      }
    });
    assert.deepEqual(problems, []);
  });
}

test('provisioning: the Prometheus datasource uid is the default of every dashboard datasource variable', async () => {
  const { datasources } = parseYaml(await readFile(DATASOURCE_YAML, 'utf8')) as {
    datasources: { name: string; uid: string; type: string; url: string; isDefault: boolean }[];
  };
  assert.equal(datasources.length, 1);
  const [ds] = datasources;
  assert.ok(ds);
  assert.deepEqual(
    { name: ds.name, uid: ds.uid, type: ds.type, url: ds.url, isDefault: ds.isDefault },
    { name: 'Prometheus', uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090', isDefault: true },
  );
  for (const { file, json } of files) {
    const variable = json.templating.list.find((v) => v.name === 'datasource');
    assert.equal(variable?.query, ds.type, `${file}: datasource variable type`);
    assert.equal(variable?.current?.value, ds.uid, `${file}: datasource variable default`);
  }
});

test('provisioning: Grafana loads the dashboards into a busbench folder from the mounted path', async () => {
  const { providers } = parseYaml(await readFile(PROVIDER_YAML, 'utf8')) as {
    providers: { folder: string; type: string; allowUiUpdates: boolean; options: { path: string } }[];
  };
  assert.equal(providers.length, 1);
  const [provider] = providers;
  assert.equal(provider?.type, 'file');
  assert.equal(provider?.folder, 'busbench');
  assert.equal(provider?.allowUiUpdates, true);
  assert.equal(provider?.options.path, GRAFANA_DASHBOARD_PATH);
});

// ---- 3. Every query returns data from a real Prometheus -----------------------------------------

const TOPOLOGY = 'dedicated-longpoll';
/** Long enough for several 15 s rate windows of 1 s scrapes, deliveries and a few conflicts. */
const LOAD_MS = 20_000;
/** A query still empty after the load gets this much longer, so a slow first sample is no failure. */
const SETTLE_MS = 10_000;

/** Opens a websocket and closes it, so busbench_ws_closes_total has a series (a code) to rate. */
async function openAndClose(layout: Layout): Promise<void> {
  const token = await login(layout, 'user1');
  const url = `${layout.url.replace(/^http/, 'ws')}/websocket?token=${encodeURIComponent(token)}`;
  await new Promise<void>((closed, failed) => {
    const ws = new WebSocket(url);
    ws.once('open', () => ws.close(1000));
    ws.once('close', () => closed());
    ws.once('error', failed);
  });
}

/** What Grafana would send with topology on All (`.*`), testid on this run, and a 1 s scrape interval. */
function substitute(expr: string, testid: string): string {
  return expr
    .replaceAll('$__rate_interval', '15s')
    .replaceAll(/\$\{topology\}|\$topology\b/g, '.*')
    .replaceAll(/\$\{testid\}|\$testid\b/g, testid);
}

test('every query of every panel returns data from Prometheus scraping dedicated-longpoll, the DB exporter and the load on long polls and websockets', {
  timeout: 180_000,
}, async (t) => {
  if (missingTool(t, prometheusPath(), PROMETHEUS_MISSING)) return;
  const testid = `dash-${process.pid}-${Date.now().toString(36)}`;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const layout = await startLayout(TOPOLOGY, ['--poll-timeout', '5']);
    cleanup.unshift(() => layout.stop());
    const exporter = await startDbExporter({ databaseUrl: layout.databaseUrl, host: '127.0.0.1', port: 0 });
    cleanup.unshift(() => exporter.close());
    // The seeded data (20 users, 5 channels, 1 each) is what startLayout creates.
    const tabs = PROFILES.tabs;
    assert.ok(tabs, 'profile tabs');
    const runner = new Runner(
      { ...tabs, users: 20, tabsPerBrowser: 2, channels: 5, channelsPerUser: 1, pollTimeout: 5, rate: 5 },
      { appUrl: layout.url, busUrl: layout.busUrl, runTag: 'dash' },
    );
    cleanup.unshift(() => runner.close());
    // A few browsers on websockets beside the long polls, so the websocket panels have frames and subscriptions.
    const sockets = new Runner(
      { ...tabs, users: 4, tabsPerBrowser: 2, channels: 5, channelsPerUser: 1, pollTimeout: 5, rate: 1 },
      { appUrl: layout.url, busUrl: layout.busUrl, runTag: 'dash-ws', transport: 'websocket' },
    );
    cleanup.unshift(() => sockets.close());
    const load = await serveLoadMetrics(
      runner,
      { testid, topology: TOPOLOGY, profile: 'tabs' },
      { host: '127.0.0.1', port: 0 },
    );
    cleanup.unshift(() => load.close());
    const prometheus = await startPrometheus({
      busbench: `${layout.url}/metrics`,
      'busbench-db': `${exporter.url}/metrics`,
      k6: `${load.url}/metrics`,
    });
    cleanup.unshift(() => prometheus.stop());

    await openAndClose(layout);
    await Promise.all([runner.start(1000), sockets.start(1000)]);
    cleanup.unshift(() => Promise.all([runner.stop(), sockets.stop()]));
    runner.setPhase('measure');
    sockets.setPhase('measure');
    await new Promise((r) => setTimeout(r, LOAD_MS));

    // Queried while the load still runs, so rates over the last 15 s are not zero.
    const pending = files.flatMap(({ json }) =>
      queries(json).map((q) => ({ ...q, dashboard: json.title, sent: substitute(q.expr, testid) })),
    );
    assert.ok(pending.length >= 30, `only ${pending.length} queries`);
    const failures = new Map<string, string>();
    const deadline = Date.now() + SETTLE_MS;
    let empty = pending;
    while (empty.length > 0) {
      const results = await Promise.all(empty.map((q) => prometheus.query(q.sent)));
      const stillEmpty: typeof pending = [];
      empty.forEach((q, i) => {
        const key = `${q.dashboard} / ${q.panel} [${q.refId}]`;
        const r = results[i];
        failures.delete(key);
        // A rejected query will not start working; only "no data" is worth asking again.
        if (r?.error) failures.set(key, `${q.sent}: ${r.error}`);
        else if (r?.result.length === 0) {
          failures.set(key, `${q.sent}: no data`);
          stillEmpty.push(q);
        }
      });
      empty = stillEmpty;
      if (empty.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 2000));
    }

    // A target that is down explains a whole group of empty panels at once. Only then: on a
    // loaded machine one scrape of the exporter can time out while every panel has its data.
    const down =
      failures.size === 0
        ? []
        : (await prometheus.targets())
            .filter((target) => target.health !== 'up')
            .map((target) => `scrape target ${target.job} is ${target.health}: ${target.lastError}`);
    assert.deepEqual(
      [...down, ...[...failures].map(([key, why]) => `${key}: ${why}`)],
      [],
      'queries that returned nothing (a metric missing or named differently, or a wrong query)',
    );

    // The websocket panels show the load's sockets and pushes, not only the counters' initial zeros.
    for (const expr of [
      `sum(busbench_ws_open_sockets{topology="${TOPOLOGY}"})`,
      `sum(rate(busbench_ws_frames_total{topology="${TOPOLOGY}", direction="out"}[15s]))`,
    ]) {
      const [sample] = (await prometheus.query(expr)).result as { value?: [number, string] }[];
      const value = Number(sample?.value?.[1] ?? 0);
      assert.ok(value > 0, `${expr} is ${value}`);
    }

    await Promise.all([runner.drain(3000), sockets.drain(3000)]);
  } finally {
    for (const step of cleanup) await step().catch((err: unknown) => console.error(`cleanup: ${err}`));
  }
});
