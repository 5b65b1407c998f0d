// report.html and the charts as SVG files. The page must open from a results directory
// copied anywhere, with no network: ECharts, the chart options, the run and the styles are
// all inlined, and nothing refers to a URL.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as echarts from 'echarts';
import { total } from '../../loadtests/lib/numbers.js';
import { buildCharts, type ChartSpec, caseColor, extremes, loadCharts } from './charts.js';
import {
  BROWSER_FIGURES,
  formatNumber,
  indistinguishablePairs,
  KEY_FIGURES,
  keptUp,
  NOISE_FIGURES,
  repeatedFigures,
  TRANSACTION_COLUMNS,
  TRANSPORT_COLUMNS,
  TRANSPORT_FIGURES,
  transportCases,
  withoutTransport,
} from './compare.js';
import { heldText } from './find-max.js';
import { spreadName } from './repeats.js';
import { faultSection, faultVerdict } from './report-faults.js';
import type { BrowserResult, CaseResult, RunFile } from './results.js';
import { failedAttempts, invalidCases, validityOf, validOnly } from './validity.js';

// echarts.common has every piece the charts use (line, bar, markArea, legend, tooltip,
// dataZoom) at two thirds of the full build's size.
export const ECHARTS_BROWSER_BUILD = 'echarts/dist/echarts.common.min.js';

export interface Report {
  html: string;
  /** `name` is a file name, `<chart name>.svg`. */
  svgs: { name: string; svg: string }[];
}

export function renderReport(run: RunFile): Report {
  // A run of real browsers only has no simulated cases: empty charts would only be noise.
  // Invalid cases are named in the verdict and kept in the figures table, but not charted.
  const valid = validOnly(run);
  // The load charts take every case, so an invalid one is a gap in its line rather than missing.
  const charts = valid.cases.length > 0 ? [...buildCharts(valid), ...loadCharts(run)] : [];
  return {
    html: renderHtml(run, charts),
    svgs: charts.map((spec) => ({ name: `${spec.name}.svg`, svg: renderSvg(spec) })),
  };
}

export function renderSvg(spec: Pick<ChartSpec, 'width' | 'height' | 'option'>): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: spec.width, height: spec.height });
  try {
    chart.setOption(spec.option);
    return chart.renderToSVGString();
  } finally {
    // zrender keeps a timer per instance: an undisposed chart keeps the process alive.
    chart.dispose();
  }
}

function esc(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch,
  );
}

/** JSON that cannot end its <script> element early, whatever strings the run holds. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function words(value: number, digits = 1): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** A rate in words; n/a where the case had nothing to divide by. */
function rateWords(value: number | null, digits = 1): string {
  return value === null ? 'n/a' : words(value, digits);
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

function swatch(index: number): string {
  return `<span class="swatch" style="background:${caseColor(index)}"></span>`;
}

/** The invalid cases, named with why, before anything is compared. */
function invalidLine(run: RunFile): string[] {
  const invalid = invalidCases(run);
  if (invalid.length === 0) return [];
  return [
    `<b>Invalid, left out of the comparison</b> (rates n/a): ${list(invalid.map((c) => `${esc(c.id)} (${esc(c.reasons.join('; '))})`))}.`,
  ];
}

function verdict(full: RunFile): string[] {
  if (full.cases.length === 0) return ['The run has no cases.'];
  const run = validOnly(full);
  const cases = run.cases;
  const [first] = cases;
  if (!first) return [...invalidLine(full), 'No case is valid: there is nothing to compare.'];
  const lines: string[] = invalidLine(full);
  const names = (group: CaseResult[]) => list(group.map((c) => esc(c.id)));

  const per1000Tabs = (c: CaseResult) => c.totals.derived.db_connections_per_1000_tabs;
  const connections = (c: CaseResult) =>
    `${rateWords(per1000Tabs(c))} per 1,000 tabs (peak ${words(c.totals.database.peak_connections)} for ${words(c.totals.client.tabs)} tabs)`;
  const fewest = extremes(run, per1000Tabs, 'min');
  const most = extremes(run, per1000Tabs, 'max');
  const [fewestFirst = first] = fewest;
  const [mostFirst = first] = most;
  lines.push(
    cases.length === 1
      ? `<b>${esc(first.id)}</b> holds ${esc(connections(first))} database connections; there is no other case to compare.`
      : `Fewest database connections: <b>${names(fewest)}</b>, ${esc(connections(fewestFirst))}. ` +
          `Most: ${names(most)}, ${esc(connections(mostFirst))}.`,
  );

  const rate = (c: CaseResult) => c.totals.derived.failures_per_1000_tx;
  const conflicted = extremes(run, rate, 'max');
  const calmest = extremes(run, rate, 'min');
  const [conflictedFirst = first] = conflicted;
  const [calmestFirst = first] = calmest;
  if (conflicted.length === 0) {
    lines.push('Transaction conflicts: no case committed a transaction, so no case has a conflict rate.');
  } else if (rate(conflictedFirst) === 0) {
    lines.push('Transaction conflicts: no case had a failed transaction attempt.');
  } else {
    const tx = (c: CaseResult) => c.totals.database.app.total;
    lines.push(
      `Most transaction conflicts: <b>${names(conflicted)}</b>, ${rateWords(rate(conflictedFirst), 2)} failed attempts per 1,000 commits ` +
        `(${list(conflicted.map((c) => `${esc(c.id)}: ${words(failedAttempts(c.totals), 0)} failed attempts, retries included; pgbench's "total number of retries" ${words(tx(c).retries, 0)}; pgbench's "number of transactions retried" ${rateWords(tx(c).retried ?? null, 0)}; pgbench's "number of failed transactions" ${words(tx(c).final_failures, 0)}, seen by users`))})` +
        (cases.length > 1 ? `. Fewest: ${names(calmest)}, ${rateWords(rate(calmestFirst), 2)} per 1,000.` : '.'),
    );
  }

  const stuck = cases.filter((c) => !keptUp(c));
  if (stuck.length > 0) {
    lines.push(
      `<b>Did not keep up with the load</b> (posts failed or messages still undelivered at the end; left out of "fewest" and "most" above): ` +
        `${list(stuck.map((c) => `${esc(c.id)} (${words(c.totals.delivery.posts_failed, 0)} posts failed, ${words(c.totals.delivery.pending, 0)} deliveries pending)`))}.`,
    );
  }

  const lossy = cases.filter((c) => c.totals.delivery.lost > 0);
  lines.push(
    lossy.length === 0
      ? `No message was lost in any case (${words(total(cases.map((c) => c.totals.delivery.expected)), 0)} expected deliveries checked).`
      : `<b>Messages were lost</b>: ${list(lossy.map((c) => `${esc(c.id)} lost ${words(c.totals.delivery.lost, 0)} of ${words(c.totals.delivery.expected, 0)} expected deliveries`))}.`,
  );
  const late = cases.filter((c) => c.totals.delivery.pending > 0);
  if (late.length > 0) {
    lines.push(
      `Still pending when the run ended (late, not provably lost): ${list(late.map((c) => `${esc(c.id)} ${words(c.totals.delivery.pending, 0)}`))}.`,
    );
  }
  const disordered = cases.filter((c) => c.totals.delivery.duplicated > 0 || c.totals.delivery.out_of_order > 0);
  if (disordered.length > 0) {
    lines.push(
      `Duplicated or out-of-order deliveries: ${list(disordered.map((c) => `${esc(c.id)} (${words(c.totals.delivery.duplicated, 0)} duplicated, ${words(c.totals.delivery.out_of_order, 0)} out of order)`))}.`,
    );
  }
  lines.push(...noiseLines(run), ...thresholdLines(full), ...findMaxLines(full));
  const warned = full.cases.filter((c) => c.warnings.length > 0);
  if (warned.length > 0) {
    const count = total(warned.map((c) => c.warnings.length));
    lines.push(
      `<a href="#warnings">${count} warning${count === 1 ? '' : 's'}</a> to read first: ${list(warned.map((c) => `${esc(c.id)} (${c.warnings.length})`))}.`,
    );
  }
  lines.push(...faultVerdict(run, esc));
  return lines;
}

/**
 * With repeats: each verdict figure as mean +- spread, and the layouts that differ by less than
 * their spread, which are indistinguishable. Without: that no spread was measured.
 */
function noiseLines(run: RunFile): string[] {
  const figures = repeatedFigures(run).filter((f) => NOISE_FIGURES.includes(f.figure.label));
  if (figures.length === 0) {
    return [
      'One run per case: no spread was measured, so a difference of a few per cent may be noise (<code>--repeat 3</code> measures it).',
    ];
  }
  const kinds = figures.flatMap((f) => f.groups.flatMap((g) => (g.spread ? [g.spread.kind] : [])));
  const lines = [
    `Repeated runs, mean ± spread (${esc(spreadName(kinds))}): ${figures
      .map(
        (f) =>
          `${esc(f.figure.label)}: ${list(
            f.groups.map(
              (g) =>
                `${esc(g.id)} ${g.spread ? `${formatNumber(g.spread.mean, f.figure.digits)} ± ${formatNumber(g.spread.spread, f.figure.digits)}` : 'n/a'}`,
            ),
          )}`,
      )
      .join('; ')}.`,
  ];
  const pairs = figures.flatMap((f) =>
    indistinguishablePairs(f).map(([a, b]) => `${esc(a)} and ${esc(b)} in ${esc(f.figure.label)}`),
  );
  lines.push(
    pairs.length === 0
      ? 'Every difference between these figures is larger than the spread of the runs.'
      : `<b>Indistinguishable</b> (they differ by less than their spread, so the difference is noise): ${list(pairs)}.`,
  );
  return lines;
}

function thresholdLines(run: RunFile): string[] {
  const results = run.thresholds;
  if (!results || results.length === 0) return [];
  const broken = results.filter((r) => !r.ok);
  const held = `${results.length - broken.length} of ${results.length} threshold checks held`;
  return [
    broken.length === 0
      ? `Thresholds: ${held}.`
      : `<b>Thresholds broken</b> (exit 99): ${list(broken.map((r) => `${esc(r.expression)} in ${esc(r.case)} (${esc(String(r.value))})`))}; ${held}.`,
  ];
}

/** `--find-max`: the largest load each layout held, and what broke it at the next step. */
function findMaxLines(run: RunFile): string[] {
  const f = run.find_max;
  if (!f) return [];
  const each = f.lines.map(
    (l) =>
      `<b>${esc(l.id)}</b> ${esc(heldText(l))}` +
      (l.broke_at ? `, broke at ${l.broke_at.tabs} tabs: ${esc(l.reason ?? '')}` : ', to the end of the schedule'),
  );
  return [
    `Largest load held (<code>--find-max ${esc(f.expressions.join(','))}</code>, users doubled each step; tried: ${f.schedule.map((l) => l.users).join(', ')}): ${list(each)}.`,
  ];
}

/** Each figure against load, when the run swept it; the verdict's find-max line says where each layout stopped. */
function loadSection(charts: ChartSpec[]): string {
  const own = charts.filter((spec) => spec.section === 'load');
  if (own.length === 0) return '';
  return `<section id="load">
<h2>How it grows</h2>
<p class="meta">Each figure against the tabs offered (users × browsers × tabs per browser), one line per layout; a point is the mean of the valid runs at that load. A gap is a load whose every run was invalid, or that the layout never reached (find-max stopped it): no figure, not 0.</p>
<div class="charts">${own.map(chartDiv).join('')}</div>
</section>
`;
}

function atAGlance(full: RunFile): string {
  const run = validOnly(full);
  const head = `<tr><th>case</th>${KEY_FIGURES.map((f) => `<th>${esc(f.label)}</th>`).join('')}</tr>`;
  const rows = run.cases.map(
    (c, i) =>
      `<tr><th>${swatch(i)}${esc(c.id)}</th>${KEY_FIGURES.map((f) => `<td>${esc(formatNumber(f.value(c), f.digits))}</td>`).join('')}</tr>`,
  );
  return `<table class="numbers"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table><p class="meta">${esc(TRANSACTION_COLUMNS)}.</p>`;
}

/** Long polling against websockets, a layout's transports side by side; '' when the run measured one. */
function transportSection(run: RunFile): string {
  const cases = transportCases(run);
  if (cases.length === 0) return '';
  const head = `<tr><th>case</th><th>transport</th>${TRANSPORT_FIGURES.map((f) => `<th>${esc(f.label)}</th>`).join('')}</tr>`;
  const rows = cases.map(
    (c) =>
      `<tr><th>${esc(withoutTransport(c))}</th><td>${esc(c.transport ?? 'longpoll')}</td>${TRANSPORT_FIGURES.map((f) => `<td>${esc(formatNumber(f.value(c), f.digits))}</td>`).join('')}</tr>`,
  );
  return (
    '<section id="transports">\n<h2>Long polling and websockets</h2>\n' +
    `<div class="scroll"><table class="numbers"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></div>` +
    `<p class="meta">${esc(TRANSPORT_COLUMNS)}.</p>\n</section>\n`
  );
}

function browserSection(results: BrowserResult[]): string {
  const [first] = results;
  if (!first) return '';
  const head = `<tr><th>measurement</th>${BROWSER_FIGURES.map((f) => `<th>${esc(f.label)}</th>`).join('')}</tr>`;
  const rows = results.map(
    (b) =>
      `<tr><th>${esc(b.id)}</th>${BROWSER_FIGURES.map((f) => `<td>${esc(formatNumber(f.value(b), f.digits))}</td>`).join('')}</tr>`,
  );
  const lossy = results.filter((b) => b.lost > 0 || b.duplicated > 0);
  const delivery =
    lossy.length === 0
      ? `Every tab showed every post exactly once (${words(total(results.map((b) => b.expected)), 0)} deliveries checked).`
      : `<b>Lost or duplicated</b>: ${list(lossy.map((b) => `${esc(b.id)} lost ${words(b.lost, 0)} and duplicated ${words(b.duplicated, 0)} of ${words(b.expected, 0)}`))}.`;
  return (
    `<p class="meta">${words(first.browsers, 0)} browsers (one user each, with its own connections, cookies, Web Locks and ` +
    `SharedWorkers) × ${words(first.tabs_per_browser, 0)} tabs of the chat page in headless Chromium. ` +
    'Polls in flight are the polls the tabs started and had not seen answered; those the server does not see as parked ' +
    'wait in the browser for one of its 6 connections per origin. A page on websockets (transport=websocket in its id) holds ' +
    'its socket beside those 6 and parks no poll: one websocket per browser in leader and shared-worker mode, one per tab in ' +
    'every-tab. Presence writes and 40001s cover the window from the settled tabs ' +
    'until every post was delivered. Handover: from closing one tab per browser (its leader in leader mode) until every ' +
    `other tab showed a post sent right after.</p>` +
    `<p>${delivery}</p>` +
    `<div class="scroll"><table class="numbers"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></div>`
  );
}

function chartDiv(spec: ChartSpec): string {
  return `<div class="chart" id="chart-${esc(spec.name)}" style="height:${spec.height}px"></div>`;
}

function timeSeriesSection(run: RunFile, charts: ChartSpec[]): string {
  return validOnly(run)
    .cases.map((c, i) => {
      const own = charts.filter((spec) => spec.section === 'timeseries' && spec.caseId === c.id);
      return `<h3>${swatch(i)}${esc(c.id)}</h3><div class="charts small">${own.map(chartDiv).join('')}</div>`;
    })
    .join('\n');
}

type Cell = string | number | boolean | null;

// Arrays of named things become one row per name, not per position, so cases line up.
const KEYED_ARRAYS: Record<string, string> = { processes: 'process', connections_by_app: 'application_name' };
// Records whose keys are data (endpoints, statuses), shown in brackets: `requests[bus.poll][200]`.
const RECORD_DEPTH: Record<string, number> = { requests: 2, by_endpoint: 1 };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One row of the figures table, or a branch above rows; `values` holds one cell per case. */
interface FigureNode {
  path: string;
  children: Map<string, FigureNode>;
  values: (Cell | undefined)[] | undefined;
}

function child(node: FigureNode, segment: string): FigureNode {
  let found = node.children.get(segment);
  if (!found) {
    found = { path: node.path + segment, children: new Map(), values: undefined };
    node.children.set(segment, found);
  }
  return found;
}

// A tree rather than a list, so a process or endpoint only one case has still sits with its
// siblings instead of wherever that case's rows happened to end.
function flatten(value: unknown, node: FigureNode, field: string, column: number, bracket = 0): void {
  if (Array.isArray(value)) {
    const keyField = KEYED_ARRAYS[field];
    value.forEach((item, i) => {
      if (keyField && isObject(item)) {
        const { [keyField]: key, ...rest } = item;
        flatten(rest, child(node, `[${String(key)}]`), field, column);
      } else {
        flatten(item, child(node, `[${i}]`), field, column);
      }
    });
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const segment = bracket > 0 ? `[${key}]` : node.path ? `.${key}` : key;
      flatten(item, child(node, segment), key, column, bracket > 0 ? bracket - 1 : (RECORD_DEPTH[key] ?? 0));
    }
  } else {
    node.values ??= [];
    node.values[column] = value as Cell;
  }
}

function leaves(node: FigureNode): FigureNode[] {
  return node.values ? [node] : [...node.children.values()].flatMap(leaves);
}

function cell(value: Cell | undefined): string {
  if (value === undefined) return '';
  if (value === null) return '–';
  if (typeof value === 'number') return words(value, 2);
  return esc(String(value));
}

function figuresTable(run: RunFile): string {
  const root: FigureNode = { path: '', children: new Map(), values: undefined };
  run.cases.forEach((c, i) => {
    const about = {
      topology: c.topology,
      presence: c.presence,
      isolation: c.isolation,
      dispatch: c.dispatch,
      ...(c.load ? { users: c.load.users, tabs_offered: c.load.tabs } : {}),
      started_at: c.started_at,
      measured_seconds: c.measured_seconds,
      warnings: c.warnings.length,
      valid: validityOf(c, run).valid,
      invalid_because: validityOf(c, run).reasons.join('; '),
    };
    flatten({ case: about, ...c.totals, ...(c.generator ? { generator: c.generator } : {}) }, root, '', i);
  });
  const head = `<tr><th>figure</th>${run.cases.map((c, i) => `<th>${swatch(i)}${esc(c.id)}</th>`).join('')}</tr>`;
  const body: string[] = [];
  for (const [group, node] of root.children) {
    body.push(`<tr class="group"><th colspan="${run.cases.length + 1}">${esc(group)}</th></tr>`);
    for (const row of leaves(node)) {
      const label = row.path.slice(group.length + 1);
      const cells = run.cases.map((_, i) => `<td>${cell(row.values?.[i])}</td>`).join('');
      body.push(`<tr><th>${esc(label)}</th>${cells}</tr>`);
    }
  }
  return `<table class="numbers figures"><thead>${head}</thead><tbody>${body.join('\n')}</tbody></table>`;
}

function warningList(warnings: string[]): string {
  return warnings.length === 0 ? '<p>none</p>' : `<ul>${warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`;
}

function warningsSection(run: RunFile): string {
  return [
    ...run.cases.map((c, i) => `<h3>${swatch(i)}${esc(c.id)}</h3>${warningList(c.warnings)}`),
    ...(run.browser ?? []).map((b) => `<h3>${esc(b.id)} (real browsers)</h3>${warningList(b.warnings)}`),
  ].join('\n');
}

function pre(value: unknown): string {
  return `<pre>${esc(JSON.stringify(value, null, 2))}</pre>`;
}

function configSection(run: RunFile): string {
  const cases = run.cases
    .map(
      (c, i) =>
        `<h3>${swatch(i)}${esc(c.id)}</h3>` +
        `<p>topology ${esc(c.topology)}, presence ${esc(c.presence)}, isolation ${esc(c.isolation)}, dispatch ${esc(c.dispatch)}; ` +
        `started ${esc(c.started_at)}, measured ${words(c.measured_seconds)} s</p>${pre(c.server_config)}`,
    )
    .join('\n');
  return (
    `<p>Command: <code>${esc(run.command)}</code></p>` +
    `<p>Engine ${esc(run.engine)}; machine: ${words(run.machine.cpus, 0)} × ${esc(run.machine.cpu_model)}, ` +
    `${words(run.machine.memory_bytes / 1e9)} GB, ${esc(run.machine.platform)}, Node ${esc(run.machine.node)}</p>` +
    `<h3>Profile</h3>${pre(run.profile)}<h3>Sweep</h3>${pre(run.sweep)}` +
    (run.cases.length > 0 ? `<h3>Server configuration of each case</h3>${cases}` : '') +
    (run.browser?.length
      ? `<h3>Server configuration of each real-browser measurement</h3>${run.browser.map((b) => `<h3>${esc(b.id)}</h3>${pre(b.server_config)}`).join('\n')}`
      : '')
  );
}

export const STYLE = `
:root { color-scheme: light; --ink: #1d2329; --muted: #5f6b76; --rule: #dde2e6; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1480px; padding: 24px 32px 64px; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 40px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 15px; margin: 20px 0 8px; }
.meta { color: var(--muted); margin: 0; }
.verdict { font-size: 17px; padding-left: 20px; }
.verdict li { margin: 6px 0; }
.charts { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(640px, 1fr)); }
.charts.small { grid-template-columns: repeat(4, minmax(0, 1fr)); }
@media (max-width: 1200px) { .charts.small { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.chart { border: 1px solid var(--rule); border-radius: 6px; min-width: 0; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
table.numbers { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
table.numbers th, table.numbers td { padding: 3px 10px; border-bottom: 1px solid var(--rule); white-space: nowrap; }
table.numbers td { text-align: right; }
table.numbers th { text-align: left; font-weight: 500; }
table.numbers thead th { position: sticky; top: 0; background: #f5f7f8; font-weight: 600; }
table.figures tr.group th { background: #eef1f3; font-weight: 600; padding-top: 8px; }
.scroll { overflow-x: auto; }
.scroll.tall { max-height: 85vh; overflow-y: auto; }
pre { background: #f5f7f8; padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
code { font-size: 13px; }
`;

// Sets body[data-charts-done] once every chart has drawn, so a headless browser knows when to look.
export const BOOT = `
(() => {
  const specs = JSON.parse(document.getElementById('busbench-charts').textContent);
  const charts = [];
  let pending = specs.length;
  const settle = () => { if (pending === 0) document.body.dataset.chartsDone = String(charts.length); };
  for (const spec of specs) {
    const chart = echarts.init(document.getElementById('chart-' + spec.name));
    let drawn = false;
    chart.on('finished', () => { if (!drawn) { drawn = true; pending--; settle(); } });
    chart.setOption(spec.option);
    charts.push(chart);
  }
  settle();
  addEventListener('resize', () => { for (const chart of charts) chart.resize(); });
})();
`;

/** Everything about the simulated cases; a run of real browsers only has none. */
function casesSections(run: RunFile, charts: ChartSpec[]): string {
  const section = (name: ChartSpec['section']) =>
    charts
      .filter((spec) => spec.section === name)
      .map(chartDiv)
      .join('');
  return `<section id="verdict">
<h2>Verdict</h2>
<ul class="verdict">${verdict(run)
    .map((line) => `<li>${line}</li>`)
    .join('\n')}</ul>
<div class="scroll">${atAGlance(run)}</div>
</section>
${loadSection(charts)}${transportSection(run)}${faultSection(run, esc)}<section id="key">
<h2>Connections and conflicts</h2>
<div class="charts">${section('key')}</div>
</section>
<section id="compare">
<h2>Failures, latency and resources</h2>
<div class="charts">${section('compare')}</div>
</section>
<section id="timeseries">
<h2>Each case over time</h2>
<p class="meta">Grey bands are warm-up and drain, which the totals leave out. Shift + wheel over a chart zooms its time axis; drag to pan.</p>
${timeSeriesSection(run, charts)}
</section>
<section id="figures">
<h2>Every figure</h2>
<div class="scroll tall">${figuresTable(run)}</div>
</section>
`;
}

function renderHtml(run: RunFile, charts: ChartSpec[]): string {
  const library = readFileSync(createRequire(import.meta.url).resolve(ECHARTS_BROWSER_BUILD), 'utf8').replace(
    /<\/script/gi,
    '<\\/script',
  );
  const title = `busbench run of ${run.started_at}`;
  const measured = run.browser?.length ?? 0;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const counted = [
    ...(run.cases.length > 0 || measured === 0 ? [plural(run.cases.length, 'case')] : []),
    ...(measured > 0 ? [plural(measured, 'real-browser measurement')] : []),
  ].join(', ');
  const browser = run.browser?.length
    ? `<section id="browser">\n<h2>Real browser tabs</h2>\n${browserSection(run.browser)}\n</section>\n`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${esc(title)}</h1>
<p class="meta">Profile ${esc(run.profile.name)}, ${counted}, engine ${esc(run.engine)}; finished ${esc(run.finished_at)}</p>
</header>
${run.cases.length > 0 ? casesSections(run, charts) : ''}${browser}<section id="warnings">
<h2>Warnings</h2>
${warningsSection(run)}
</section>
<section id="config">
<h2>Configuration</h2>
${configSection(run)}
</section>
<script type="application/json" id="busbench-run">${scriptJson(run)}</script>
<script type="application/json" id="busbench-charts">${scriptJson(charts.map(({ name, option }) => ({ name, option })))}</script>
<script>${library}</script>
<script>${BOOT}</script>
</body>
</html>
`;
}
