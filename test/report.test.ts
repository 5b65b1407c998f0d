import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { derive } from '../loadtests/lib/case-figures.js';
import { buildCharts, extremes } from '../src/bench/charts.js';
import { formatComparison, formatSideBySide, formatSpread } from '../src/bench/compare.js';
import { indistinguishable, spreadOf } from '../src/bench/repeats.js';
import { renderReport } from '../src/bench/report.js';
import type { RunFile } from '../src/bench/results.js';
import { readRun, validateRun, writeRunFiles } from '../src/bench/run-file.js';
import { BusbenchError } from '../src/lib/errors.js';
import { renderInChromium, skipWithoutChromium, unparsableSvgs } from './chromium.js';
import { sampleRun } from './fixtures.js';

const SCREENSHOT = fileURLToPath(new URL('../../test-artifacts/report.png', import.meta.url));
const scratch = await mkdtemp(join(tmpdir(), 'busbench-report-'));
after(() => rm(scratch, { recursive: true, force: true }));

let written: Promise<{ dir: string; paths: string[] }> | undefined;
/** The sample run's results directory, written once for every test that reads it. */
function sampleDir(): Promise<{ dir: string; paths: string[] }> {
  written ??= (async () => {
    const dir = join(scratch, 'sample');
    return { dir, paths: await writeRunFiles(dir, sampleRun()) };
  })();
  return written;
}

test('validateRun accepts a well-formed run', () => {
  const run = sampleRun();
  assert.equal(validateRun(run), run);
});

test('a case that committed nothing has no conflict rate: null, never the calmest, named invalid rather than a row, n/a in words', () => {
  const run = sampleRun();
  const [calm, idle] = run.cases;
  assert.ok(calm && idle);
  const app = idle.totals.database.app;
  for (const tx of [app.total, ...Object.values(app.by_endpoint)]) {
    Object.assign(tx, { attempts: 0, commits: 0, serialization_failures: 0, retries: 0, final_failures: 0 });
  }
  idle.totals.derived = derive(idle.totals, idle.measured_seconds);
  assert.equal(idle.totals.derived.failures_per_1000_tx, null, 'no commits: no rate, not 0');
  assert.equal(idle.totals.derived.final_failures_per_1000_tx, null);
  assert.equal(derive({ ...idle.totals, client: { ...idle.totals.client, tabs: 0 } }, 0).requests_per_second, null);
  assert.equal(validateRun(run), run);
  const rate = (c: (typeof run.cases)[number]) => c.totals.derived.failures_per_1000_tx;
  assert.deepEqual(
    extremes(run, rate, 'min').map((c) => c.id),
    [calm.id],
    'the idle case is not the calmest',
  );
  const table = formatComparison(run);
  assert.ok(
    !table.split('\n').some((line) => line.startsWith(`${idle.id} `)),
    'no row: a case that did no work is invalid',
  );
  assert.match(table, /invalid, left out: cluster-fork \(no transaction committed in the measured window\)/);
  idle.totals.derived.db_connections_per_1000_tabs = null;
  calm.totals.derived.db_connections_per_1000_tabs = null;
  assert.match(renderReport(run).html, /n\/a per 1,000 tabs/);
});

test('validateRun rejects a broken run and names the bad paths', () => {
  const run = sampleRun() as unknown as { cases: { totals: { delivery: Record<string, unknown> }; extra?: number }[] };
  const broken = run.cases[1];
  assert.ok(broken);
  delete broken.totals.delivery.lost;
  broken.extra = 1;
  assert.throws(
    () => validateRun(run),
    (err: unknown) =>
      err instanceof BusbenchError &&
      err.code === 'E_BAD_RUN' &&
      err.message.includes("/cases/1/totals/delivery must have required property 'lost'") &&
      err.message.includes('/cases/1 has unknown property "extra"'),
  );
});

test('readRun reports a missing or unparsable run.json as E_BAD_RUN with what to do', async () => {
  const dir = join(scratch, 'bad');
  await assert.rejects(
    readRun(dir),
    (err: unknown) =>
      err instanceof BusbenchError && err.code === 'E_BAD_RUN' && /does not exist; pass a/.test(err.message),
  );
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'run.json'), '{"schema": ');
  await assert.rejects(
    readRun(dir),
    (err: unknown) => err instanceof BusbenchError && /run\.json is not valid JSON/.test(err.message),
  );
});

test('writeRunFiles writes a run.json that reads back unchanged', async () => {
  const { dir, paths } = await sampleDir();
  assert.equal(paths[0], join(dir, 'run.json'));
  assert.deepEqual(await readRun(dir), sampleRun());
});

test('writeRunFiles keeps the measurements but fails loudly when the run breaks the contract', async () => {
  const run = sampleRun();
  const [first] = run.cases;
  assert.ok(first);
  // NaN passes the type checker and becomes null in JSON: the schema is what catches it where
  // a figure may not be null (a rate may: it is null when there was nothing to divide by).
  first.totals.client.tabs = Number.NaN;
  const dir = join(scratch, 'breach');
  await assert.rejects(
    writeRunFiles(dir, run),
    /in breach of busbench\/run@1 \(a bug; the file keeps the measurements\): \/cases\/0\/totals\/client\/tabs must be number/,
  );
  await access(join(dir, 'run.json'));
});

test('timeseries.csv has one row per case per second and a column per application and process', async () => {
  const { dir } = await sampleDir();
  const lines = (await readFile(join(dir, 'timeseries.csv'), 'utf8')).split('\r\n').filter((l) => l !== '');
  const header = lines[0]?.split(',') ?? [];
  const run = sampleRun();
  assert.equal(lines.length, 1 + run.cases.reduce((n, c) => n + c.timeseries.length, 0));
  assert.deepEqual(header.slice(0, 4), ['case', 't', 'phase', 'tabs']);
  for (const column of [
    'delivery_p99_ms',
    'db_connections{busbench/cluster-fork/http/1}',
    'db_connections{busbench/single-process/http/0}',
    'cpu_percent{worker-1}',
    'rss_bytes{main}',
    'event_loop_lag_ms{primary}',
  ]) {
    assert.ok(header.includes(column), column);
  }
  // single-process has no worker-1: its cell is empty, not zero.
  const workerColumn = header.indexOf('cpu_percent{worker-1}');
  const singleRow = lines.find((l) => l.startsWith('single-process,0,measure,'))?.split(',');
  assert.equal(singleRow?.[workerColumn], '');
  assert.equal(singleRow?.length, header.length);
});

test('report.html refers to nothing on the network', async () => {
  const { dir } = await sampleDir();
  const html = await readFile(join(dir, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
  assert.doesNotMatch(html, /@import|url\(\s*["']?https?:/i);
  assert.match(html, /<script>.*echarts/s);
});

test('strings from the run are escaped in the report', () => {
  const run = sampleRun();
  const [first] = run.cases;
  assert.ok(first);
  first.warnings.push('</script><script>alert(1)</script>');
  const { html } = renderReport(run);
  assert.equal(html.match(/<script>alert\(1\)/g), null);
  assert.match(html, /&lt;\/script&gt;&lt;script&gt;alert\(1\)/);
});

/** The sample run with every case keeping up (no message lost or pending). */
function servedRun() {
  const run = sampleRun();
  for (const c of run.cases) {
    c.totals.delivery.delivered += c.totals.delivery.lost + c.totals.delivery.pending;
    c.totals.delivery.lost = 0;
    c.totals.delivery.pending = 0;
  }
  return run;
}

test('the report headline names the fewest connections, the most conflicts and the lost and late messages', () => {
  const { html } = renderReport(sampleRun());
  assert.match(html, /Fewest database connections: <b>single-process<\/b>/);
  assert.match(html, /cluster-fork lost 2 of 4,000 expected deliveries/);
  assert.match(html, /Still pending when the run ended \(late, not provably lost\): cluster-fork 3\./);
  assert.match(renderReport(servedRun()).html, /Most transaction conflicts: <b>cluster-fork<\/b>/);
});

test('a case that did not keep up is named, and left out of "fewest" and "most"', () => {
  const { html } = renderReport(sampleRun());
  assert.match(html, /Did not keep up with the load<\/b>.*cluster-fork/);
  assert.match(html, /Most transaction conflicts: <b>single-process<\/b>/);
});

test('the two key bar charts come first and name the extreme case in their title', () => {
  const charts = buildCharts(servedRun());
  const titles = charts.slice(0, 2).map((c) => JSON.stringify(c.option.title));
  assert.match(titles[0] ?? '', /DB connections per 1,000 tabs.*\(fewest: single-process\)/);
  assert.match(titles[1] ?? '', /per 1,000 commits, by endpoint \(most: cluster-fork\)/);
  assert.deepEqual(
    charts.slice(0, 2).map((c) => c.section),
    ['key', 'key'],
  );
});

test('every chart is also written as a standalone SVG', async () => {
  const { dir, paths } = await sampleDir();
  const svgs = paths.filter((p) => p.endsWith('.svg'));
  assert.equal(svgs.length, buildCharts(sampleRun()).length);
  for (const path of svgs) {
    assert.ok(path.startsWith(join(dir, 'charts')), path);
    assert.match(await readFile(path, 'utf8'), /^<svg /);
  }
});

test('formatComparison prints one aligned row per case', () => {
  const lines = formatComparison(sampleRun()).trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0] ?? '', /^case +tabs +http conns peak +DB conns peak/);
  assert.match(lines[2] ?? '', /^cluster-fork +120 +140 +19 +158\.3 /);
  // Numbers are right-aligned under their heading.
  const tabsEnd = (lines[0] ?? '').indexOf('tabs') + 'tabs'.length;
  assert.equal((lines[1] ?? '').indexOf(' 120 ') + ' 120'.length, tabsEnd);
});

test('formatSideBySide shows both values, the change, and the cases only one run has', () => {
  const a = sampleRun();
  const b: RunFile = sampleRun();
  const [single, cluster] = b.cases;
  assert.ok(single && cluster);
  single.totals.database.peak_connections = 14;
  cluster.id = 'cluster-fork presence=upsert';
  const text = formatSideBySide(a, b, ['before', 'after']);
  assert.match(text, /case +figure +A +B +change/);
  assert.match(text, /DB conns peak +7 +14 +\+100\.0%/);
  assert.match(text, /tabs +120 +120 +0%/);
  assert.match(text, /only in A \(before\): cluster-fork\n/);
  assert.match(text, /only in B \(after\): cluster-fork presence=upsert\n/);
});

test('the report draws every chart in Chromium without errors or network requests', async (t) => {
  if (skipWithoutChromium(t)) return;
  const { dir } = await sampleDir();
  const result = await renderInChromium(join(dir, 'report.html'), SCREENSHOT);
  assert.deepEqual(result.consoleErrors, []);
  assert.deepEqual(result.pageErrors, []);
  assert.equal(result.chartCount, buildCharts(sampleRun()).length);
});

test('the Chromium check catches a page that reaches for the network', async (t) => {
  if (skipWithoutChromium(t)) return;
  const page = join(scratch, 'online.html');
  await writeFile(
    page,
    '<!doctype html><body data-charts-done="0"><img src="https://example.com/x.png"><div class="chart"></div>',
  );
  const result = await renderInChromium(page);
  assert.ok(
    result.pageErrors.some((e) => e.startsWith('blocked network request: https://example.com/')),
    result.pageErrors.join('\n'),
  );
  assert.equal(result.chartCount, 0);
});

test('the SVG files are well-formed, even with quotes and brackets in a case id', async (t) => {
  if (skipWithoutChromium(t)) return;
  const run = sampleRun();
  const [first] = run.cases;
  assert.ok(first);
  first.id = `a<b & "c" 'd'`;
  const paths = await writeRunFiles(join(scratch, 'quotes'), run);
  assert.deepEqual(await unparsableSvgs(paths.filter((p) => p.endsWith('.svg'))), []);
});

/** The sample run's two cases, three runs each, with these failure rates. */
function repeatedRun(rates: Record<string, number[]>): RunFile {
  const run = sampleRun();
  run.cases = run.cases.flatMap((c) =>
    (rates[c.id] ?? []).map((rate, i) => {
      const copy = structuredClone(c);
      copy.id = `${c.id} #${i + 1}`;
      copy.totals.derived.failures_per_1000_tx = rate;
      return copy;
    }),
  );
  return run;
}

test('a spread is the standard deviation of three runs or more, half the range of two, none of one', () => {
  assert.deepEqual(spreadOf([10, 12, 14]), { values: [10, 12, 14], mean: 12, spread: 2, kind: 'sd' });
  assert.deepEqual(spreadOf([10, null, 14]), { values: [10, 14], mean: 12, spread: 2, kind: 'half-range' });
  assert.deepEqual(spreadOf([5]), { values: [5], mean: 5, spread: null, kind: 'none' });
  assert.equal(spreadOf([null]), null, 'no value, no mean');
  const [a, b, c] = [spreadOf([10, 12, 14]), spreadOf([13, 15, 17]), spreadOf([30, 31, 32])];
  assert.ok(a && b && c);
  assert.equal(indistinguishable(a, b), true, '12 +- 2 and 15 +- 2 overlap');
  assert.equal(indistinguishable(a, c), false);
  assert.equal(indistinguishable(a, { values: [1], mean: 1, spread: null, kind: 'none' }), null);
});

test('--repeat prints every key figure as mean +- spread, exact where every run agreed', () => {
  const text = formatSpread(repeatedRun({ 'single-process': [10, 12, 14], 'cluster-fork': [30, 31, 32] }));
  assert.match(text, /single-process +tabs +120 120 120 +120 \+- 0, exact/);
  assert.match(text, /failures\/1k tx +10 12 14 +12 \+- 2 \(\+-16\.7 %\)/);
  assert.match(text, /failures\/1k tx +30 31 32 +31 \+- 1 \(\+-3\.2 %\)/);
  assert.match(text, /DB conns peak +19 19 19 +19 \+- 0, exact/);
  assert.match(text, /spread: sample standard deviation, over the valid runs/);
  assert.doesNotMatch(text, /indistinguishable in failures\/1k tx/);
  assert.equal(formatSpread(sampleRun()), '', 'nothing repeated, no spread');
});

test('the verdict says when two layouts differ by less than their spread: indistinguishable', () => {
  const close = renderReport(repeatedRun({ 'single-process': [10, 12, 14], 'cluster-fork': [13, 15, 17] })).html;
  assert.match(
    close,
    /Repeated runs, mean ± spread \(sample standard deviation\): .*failures\/1k tx: single-process 12 ± 2 and cluster-fork 15 ± 2/,
  );
  assert.match(
    close,
    /<b>Indistinguishable<\/b> \(they differ by less than their spread.*single-process and cluster-fork in failures\/1k tx/,
  );
  const apart = renderReport(repeatedRun({ 'single-process': [10, 12, 14], 'cluster-fork': [30, 31, 32] })).html;
  assert.doesNotMatch(apart, /single-process and cluster-fork in failures\/1k tx/);
  assert.match(renderReport(sampleRun()).html, /One run per case: no spread was measured/);
  assert.match(
    formatSpread(repeatedRun({ 'single-process': [10, 12, 14], 'cluster-fork': [13, 15, 17] })),
    /indistinguishable in failures\/1k tx: single-process and cluster-fork/,
  );
});

test('the transaction figures are named as pgbench names them where they are its quantities', () => {
  const { html } = renderReport(servedRun());
  assert.match(
    html,
    /failed attempts, retries included; pgbench's "total number of retries" \d+; pgbench's "number of transactions retried" \d+; pgbench's "number of failed transactions" \d+/,
  );
  assert.match(
    html,
    /retries: pgbench&#39;s &quot;total number of retries&quot; \(under --faults also units run again after their connection was lost before COMMIT\); retried tx: pgbench&#39;s &quot;number of transactions retried&quot; \(retried at least once, then committed or failed\); failed tx: pgbench&#39;s &quot;number of failed transactions&quot; \(failed for good\)/,
  );
  const header = formatComparison(sampleRun()).split('\n')[0] ?? '';
  assert.match(header, /failures\/1k tx +failed attempts +retries +retried tx +failed tx/);
});
