// Every chart of a run as an ECharts option. The report draws them in the browser and writes
// them as SVG from the same objects, so the options must stay plain JSON: no formatter
// functions, which would not survive being inlined into report.html.
import type { BarSeriesOption, EChartsOption, LineSeriesOption } from 'echarts';
import { round } from '../../loadtests/lib/numbers.js';
import { cpuPercent, KEY_FIGURES, keptUp, peakRssMb } from './compare.js';
import { loadLineId, spreadOf } from './repeats.js';
import { faultMarkLine } from './report-faults.js';
import type { CaseResult, RunFile, Sample } from './results.js';
import { isValid } from './validity.js';

export interface ChartSpec {
  /** Unique slug: the element id in report.html and the SVG's file name without `.svg`. */
  name: string;
  /**
   * `key` charts answer the report's question and come first; `load` charts draw a figure
   * against the load of a run that swept it; `timeseries` charts belong to one case.
   */
  section: 'key' | 'load' | 'compare' | 'timeseries';
  /** The case a `timeseries` chart belongs to. */
  caseId?: string;
  width: number;
  height: number;
  option: EChartsOption;
}

// Tableau 10: distinct hues that stay apart for colour-blind readers. A case keeps its colour
// in every chart, so the eye can follow one layout across the page.
const CASE_COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];
// Endpoints stack inside a case's bar; muted tones keep them from reading as cases.
const ENDPOINT_COLORS = ['#264653', '#2a9d8f', '#8ab17d', '#e9c46a', '#f4a261', '#e76f51', '#6d597a', '#b5838d'];

export function caseColor(index: number): string {
  return CASE_COLORS[index % CASE_COLORS.length] ?? '#888';
}

const BASE: EChartsOption = {
  animation: false,
  backgroundColor: '#fff',
  textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
};

function roundOrNull(value: number | null, digits: number): number | null {
  return value === null || !Number.isFinite(value) ? null : round(value, digits);
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'case'
  );
}

/**
 * The cases that share the lowest or highest value (ties are common: two layouts with the
 * same pools), among those that kept up with the load when any did.
 */
export function extremes(run: RunFile, value: (c: CaseResult) => number | null, pick: 'min' | 'max'): CaseResult[] {
  // A case without the figure (no commits, no tabs) can be neither the least nor the most.
  const measured = run.cases.filter((c) => value(c) !== null);
  const served = measured.filter(keptUp);
  const cases = served.length > 0 ? served : measured;
  const values = cases.map((c) => value(c) as number);
  const target = pick === 'min' ? Math.min(...values) : Math.max(...values);
  return cases.filter((_, i) => values[i] === target);
}

/** Names for a title: two at most, so a wide tie cannot push the title into the plot. */
function ids(cases: CaseResult[]): string {
  const named = cases.slice(0, 2).map((c) => c.id);
  return cases.length > 2 ? `${named.join(', ')} and ${cases.length - 2} more` : named.join(', ');
}

// Case ids in a title make its length unpredictable, so it wraps within the narrowest chart
// the report lays out (640 px), and caseAxis() moves the plot down by the lines it takes.
const TITLE_WIDTH = 600;

function title(text: string): EChartsOption['title'] {
  return {
    text,
    left: 'center',
    top: 8,
    textStyle: { fontSize: 14, fontWeight: 'bold', width: TITLE_WIDTH, overflow: 'break', lineHeight: 20 },
  };
}

const BAR_WIDTH = 720;
const PLOT_HEIGHT = 240;

/**
 * The case axis of a bar chart and the room around the plot for the wrapped title and labels.
 * Labels wrap to each bar's share of the narrowest layout (640 px). A sweep's ids are long
 * ("worker-threads presence=upsert"), so the chart grows rather than cut them off.
 */
function caseAxis(run: RunFile, text: string, legend: boolean) {
  // About 9 px a character of the bold 14 px title, 20 px a line; the y-axis name needs 24 px.
  const titleLines = Math.ceil((text.length * 9) / TITLE_WIDTH);
  const legendTop = 12 + titleLines * 20 + 4;
  const top = legendTop + (legend ? 24 : 0) + 24;
  const width = Math.max(64, Math.min(180, Math.floor(560 / Math.max(1, run.cases.length)) - 8));
  const longest = Math.max(0, ...run.cases.map((c) => c.id.length));
  // About 7 px a character at the axis font size.
  const lines = Math.min(6, Math.max(1, Math.ceil((longest * 7) / width)));
  const bottom = 24 + lines * 14;
  const xAxis: EChartsOption['xAxis'] = {
    type: 'category',
    data: run.cases.map((c) => c.id),
    axisLabel: { interval: 0, overflow: 'break', width, lineHeight: 14 },
  };
  const grid: EChartsOption['grid'] = { left: 56, right: 24, top, bottom };
  return { height: top + PLOT_HEIGHT + bottom, grid, xAxis, legendTop };
}

function barChart(
  run: RunFile,
  name: string,
  section: ChartSpec['section'],
  text: string,
  unit: string,
  value: (c: CaseResult) => number | null,
  digits: number,
): ChartSpec {
  const series: BarSeriesOption = {
    type: 'bar',
    name: unit,
    barMaxWidth: 64,
    label: { show: true, position: 'top' },
    data: run.cases.map((c, i) => ({ value: roundOrNull(value(c), digits), itemStyle: { color: caseColor(i) } })),
  };
  // Whole-number figures get whole-number ticks: a 0.2 step on a count of final failures reads as a fraction.
  return seriesBarChart(run, name, section, text, unit, [series], { legend: false, minInterval: digits === 0 ? 1 : 0 });
}

function failedAttempts(tx: { serialization_failures: number; deadlocks: number; lock_not_available: number }) {
  return tx.serialization_failures + tx.deadlocks + tx.lock_not_available;
}

/** Each endpoint's failed attempts per 1,000 of the case's commits, so a bar's stack adds up to the case's rate. */
function failuresByEndpoint(run: RunFile): ChartSpec {
  const endpoints: string[] = [];
  for (const c of run.cases) {
    for (const [endpoint, tx] of Object.entries(c.totals.database.app.by_endpoint)) {
      if (failedAttempts(tx) > 0 && !endpoints.includes(endpoint)) endpoints.push(endpoint);
    }
  }
  const most = extremes(run, (c) => c.totals.derived.failures_per_1000_tx, 'max');
  const anyFailure = run.cases.some((c) => (c.totals.derived.failures_per_1000_tx ?? 0) > 0);
  const headline = most.length === 0 ? '' : anyFailure ? ` (most: ${ids(most)})` : ' (none in any case)';
  const series: BarSeriesOption[] = endpoints.map((endpoint, i) => ({
    type: 'bar',
    name: endpoint,
    stack: 'failures',
    barMaxWidth: 64,
    itemStyle: { color: ENDPOINT_COLORS[i % ENDPOINT_COLORS.length] ?? '#888' },
    data: run.cases.map((c) => {
      const tx = c.totals.database.app.by_endpoint[endpoint];
      const commits = c.totals.database.app.total.commits;
      return tx && commits > 0 ? roundOrNull((failedAttempts(tx) / commits) * 1000, 2) : null;
    }),
  }));
  const text = `Failed transaction attempts per 1,000 commits, by endpoint${headline}`;
  return seriesBarChart(run, 'failures-per-1000-tx', 'key', text, 'per 1,000 tx', series);
}

/** Bars per case: one series, or several (stacked endpoints, p50 beside p99) with a legend. */
function seriesBarChart(
  run: RunFile,
  name: string,
  section: ChartSpec['section'],
  text: string,
  unit: string,
  series: BarSeriesOption[],
  { legend = true, minInterval = 0 } = {},
): ChartSpec {
  const axis = caseAxis(run, text, legend);
  return {
    name,
    section,
    width: BAR_WIDTH,
    height: axis.height,
    option: {
      ...BASE,
      title: title(text),
      tooltip: { trigger: 'axis' },
      ...(legend ? { legend: { top: axis.legendTop, type: 'scroll', itemGap: 16 } } : {}),
      grid: axis.grid,
      xAxis: axis.xAxis,
      yAxis: { type: 'value', name: unit, minInterval },
      series,
    },
  };
}

function deliveryLatency(run: RunFile): ChartSpec {
  const percentile = (key: 'p50' | 'p99', opacity: number): BarSeriesOption => ({
    type: 'bar',
    name: key,
    barMaxWidth: 40,
    label: { show: true, position: 'top', fontSize: 10 },
    itemStyle: { color: '#555', opacity },
    data: run.cases.map((c, i) => ({
      value: roundOrNull(c.totals.delivery.latency_ms[key], 1),
      itemStyle: { color: caseColor(i), opacity },
    })),
  });
  const text = 'Delivery latency: p50 light, p99 dark (ms, post due to arrival)';
  return seriesBarChart(run, 'delivery-latency', 'compare', text, 'ms', [
    percentile('p50', 0.45),
    percentile('p99', 1),
  ]);
}

const DASHES: LineSeriesOption['lineStyle'][] = [
  { type: 'solid', width: 2 },
  { type: [6, 3], width: 2 },
  { type: [1, 3], width: 2.5, cap: 'round' },
];

/** Warm-up and drain are not measured; shading them keeps a reader from judging the layout by them. */
function phaseAreas(samples: Sample[]): LineSeriesOption['markArea'] {
  const span = (phase: Sample['phase']) => {
    const ts = samples.filter((s) => s.phase === phase).map((s) => s.t);
    return ts.length === 0 ? null : { from: Math.min(...ts), to: Math.max(...ts) };
  };
  const measure = span('measure');
  const warmup = span('warmup');
  const drain = span('drain');
  const data: [{ name: string; xAxis: number }, { xAxis: number }][] = [];
  if (warmup) data.push([{ name: 'warm-up', xAxis: warmup.from }, { xAxis: measure ? measure.from : warmup.to }]);
  if (drain) data.push([{ name: 'drain', xAxis: measure ? measure.to : drain.from }, { xAxis: drain.to }]);
  return {
    silent: true,
    itemStyle: { color: 'rgba(120, 120, 120, 0.12)' },
    label: { position: 'insideTop', color: '#666', fontSize: 10 },
    data,
  };
}

interface Line {
  label: string;
  value: (s: Sample) => number | null;
  /** Plotted against the right-hand axis, for a figure far smaller than the others. */
  right?: boolean;
}

interface TimeChart {
  key: string;
  /** The title, with the unit; the case id goes below it. */
  text: string;
  lines: Line[];
}

// Legend labels stay short: four small charts share a row, and a legend that wraps eats the plot.
const TIME_CHARTS: TimeChart[] = [
  {
    key: 'connections',
    text: 'Connections (count)',
    lines: [
      { label: 'client HTTP', value: (s) => s.http_open },
      { label: 'server sockets', value: (s) => s.server_open_sockets },
      { label: 'DB (right axis)', value: (s) => s.db_connections, right: true },
    ],
  },
  {
    key: 'waiting',
    text: 'Parked polls, queued requests (count)',
    lines: [
      { label: 'parked polls', value: (s) => s.parked_polls },
      { label: 'queued requests', value: (s) => s.queued_requests },
    ],
  },
  {
    key: 'conflicts',
    text: 'Transaction conflicts (per second)',
    lines: [
      { label: 'serialization failures', value: (s) => s.serialization_failures },
      { label: 'retries', value: (s) => s.retries },
      { label: 'final failures', value: (s) => s.final_failures },
    ],
  },
  {
    key: 'delivery',
    text: 'Delivery p99 (ms)',
    lines: [{ label: 'delivery p99', value: (s) => s.delivery_p99_ms }],
  },
];

/** The next round number up (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten), for an axis maximum. */
function niceCeil(value: number): number {
  const scale = 10 ** Math.floor(Math.log10(value));
  const step = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((f) => f * scale >= value) ?? 10;
  return step * scale;
}

/**
 * One maximum per axis over every case, so a metric's charts share a scale down the page and
 * a taller line means a larger figure. undefined leaves an all-zero axis to ECharts.
 */
function sharedMax(run: RunFile, chart: TimeChart, right: boolean): number | undefined {
  let max = 0;
  for (const c of run.cases) {
    for (const line of chart.lines) {
      if (Boolean(line.right) !== right) continue;
      for (const s of c.timeseries) max = Math.max(max, line.value(s) ?? 0);
    }
  }
  return max > 0 ? niceCeil(max) : undefined;
}

/** Left and right y-axis maximum. */
type AxisMax = [number | undefined, number | undefined];

function timeSeries(c: CaseResult, index: number, chart: TimeChart, max: AxisMax): ChartSpec {
  const color = caseColor(index);
  const ts = c.timeseries.map((s) => s.t);
  const series: LineSeriesOption[] = chart.lines.map((line, i) => ({
    type: 'line',
    name: line.label,
    showSymbol: false,
    connectNulls: false,
    yAxisIndex: line.right ? 1 : 0,
    itemStyle: { color },
    lineStyle: { color, ...DASHES[i % DASHES.length] },
    data: c.timeseries.map((s) => [s.t, line.value(s)]),
    ...(i === 0 ? { markArea: phaseAreas(c.timeseries), markLine: faultMarkLine(c) } : {}),
  }));
  const right = chart.lines.some((line) => line.right);
  const yAxis: EChartsOption['yAxis'] = [{ type: 'value', minInterval: 1, max: max[0] }];
  if (right) yAxis.push({ type: 'value', minInterval: 1, max: max[1], splitLine: { show: false } });
  return {
    name: `case${index + 1}-${slug(c.id)}-${chart.key}`,
    section: 'timeseries',
    caseId: c.id,
    width: 480,
    height: 300,
    option: {
      ...BASE,
      title: {
        text: chart.text,
        subtext: c.id,
        left: 'center',
        top: 6,
        itemGap: 4,
        textStyle: { fontSize: 13, fontWeight: 'bold' },
        // The row heading and the file name carry the whole id; a long one must not push into the legend.
        subtextStyle: { fontSize: 12, fontWeight: 'bold', color, width: 300, overflow: 'truncate' },
      },
      tooltip: { trigger: 'axis' },
      legend: { top: 50, itemWidth: 24, itemGap: 8, textStyle: { fontSize: 11 } },
      // Three legend entries wrap onto a second line in a quarter-width chart.
      grid: { left: 44, right: right ? 36 : 16, top: chart.lines.length > 2 ? 104 : 84, bottom: 44 },
      xAxis: {
        type: 'value',
        name: 'seconds',
        nameLocation: 'middle',
        nameGap: 24,
        min: ts.length > 0 ? Math.min(...ts) : 0,
        max: ts.length > 0 ? Math.max(...ts) : 0,
        minInterval: 1,
      },
      yAxis,
      // Shift: a plain wheel over a grid of charts must scroll the page, not zoom whatever is under the pointer.
      dataZoom: [{ type: 'inside', zoomOnMouseWheel: 'shift', moveOnMouseWheel: false }],
      series,
    },
  };
}

/** The key bar charts first (fewest connections, most conflicts), then the other comparisons, then each case over time. */
export function buildCharts(run: RunFile): ChartSpec[] {
  const fewest = extremes(run, (c) => c.totals.derived.db_connections_per_1000_tabs, 'min');
  const timeCharts = TIME_CHARTS.map((chart) => {
    const max: AxisMax = [sharedMax(run, chart, false), sharedMax(run, chart, true)];
    return { chart, max };
  });
  return [
    barChart(
      run,
      'db-connections-per-1000-tabs',
      'key',
      `DB connections per 1,000 tabs, at peak${fewest.length === 0 ? '' : ` (fewest: ${ids(fewest)})`}`,
      'per 1,000 tabs',
      (c) => c.totals.derived.db_connections_per_1000_tabs,
      1,
    ),
    failuresByEndpoint(run),
    barChart(
      run,
      'final-failures',
      'compare',
      'Final failures seen by users (transactions that gave up, count)',
      'count',
      (c) => c.totals.database.app.total.final_failures,
      0,
    ),
    deliveryLatency(run),
    barChart(run, 'peak-rss', 'compare', 'Peak RSS, sum of per-process peaks (MB)', 'MB', peakRssMb, 0),
    barChart(run, 'cpu', 'compare', 'CPU, sum over processes (%; 100 = one core)', '%', cpuPercent, 0),
    ...run.cases.flatMap((c, i) => timeCharts.map(({ chart, max }) => timeSeries(c, i, chart, max))),
  ];
}

/** The key figures the report draws against load, "how it grows". */
export const LOAD_FIGURES = [
  'DB conns peak',
  'http conns peak',
  'failures/1k tx',
  'failed tx',
  'delivery p99 ms',
  'CPU %',
  'peak RSS MB',
];

/** Whether the run measured its cases at more than one load (`--users`/`--tabs` lists, `--find-max`). */
export function sweptLoad(run: RunFile): boolean {
  return run.cases.every((c) => c.load) && new Set(run.cases.map((c) => c.load?.tabs)).size > 1;
}

/**
 * Each of LOAD_FIGURES against the tabs a case offered, one line per layout (the case id
 * without its load and repeat). A point is the mean of the valid runs at that load; a load
 * whose runs were all invalid, or that a line never reached (find-max stopped it), is null:
 * a gap in the line, never 0. Empty when the run did not sweep load.
 */
export function loadCharts(run: RunFile): ChartSpec[] {
  if (!sweptLoad(run)) return [];
  const lines = [...new Set(run.cases.map((c) => loadLineId(c.id)))];
  const tabs = [...new Set(run.cases.map((c) => c.load?.tabs ?? 0))].sort((a, b) => a - b);
  return KEY_FIGURES.filter((f) => LOAD_FIGURES.includes(f.label)).map((figure) => {
    const series: LineSeriesOption[] = lines.map((line, i) => ({
      type: 'line',
      name: line,
      connectNulls: false,
      showSymbol: true,
      symbolSize: 7,
      itemStyle: { color: caseColor(i) },
      lineStyle: { color: caseColor(i), width: 2 },
      data: tabs.map((x) => {
        const valid = run.cases.filter((c) => loadLineId(c.id) === line && c.load?.tabs === x && isValid(c, run));
        const mean = spreadOf(valid.map(figure.value))?.mean ?? null;
        return [x, roundOrNull(mean, figure.digits)];
      }),
    }));
    const text = `How it grows: ${figure.label} against load`;
    return {
      name: `load-${slug(figure.label)}`,
      section: 'load' as const,
      width: BAR_WIDTH,
      height: 360,
      option: {
        ...BASE,
        title: title(text),
        tooltip: { trigger: 'axis' },
        legend: { top: 36, type: 'scroll', itemGap: 16 },
        grid: { left: 56, right: 32, top: 76, bottom: 48 },
        xAxis: { type: 'value', name: 'tabs', nameLocation: 'middle', nameGap: 28, min: 0, minInterval: 1 },
        yAxis: { type: 'value', name: figure.label, minInterval: figure.digits === 0 ? 1 : 0 },
        series,
      },
    };
  });
}
