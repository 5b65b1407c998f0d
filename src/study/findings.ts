// FINDINGS.md (for a pull request or a wiki, its charts as SVG files beside it) and
// findings.html (one self-contained page in report.html's look: the same styles, ECharts
// inlined, no network). Both are rendered from study.json's findings alone.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { EChartsOption } from 'echarts';
import { caseColor } from '../bench/charts.js';
import { BOOT, ECHARTS_BROWSER_BUILD, renderSvg, STYLE } from '../bench/report.js';
import type { ChartSpec, Finding, Verdict } from './experiment.js';
import type { StudyFile } from './study-file.js';

export const VERDICTS: readonly Verdict[] = [
  'reproduced',
  'not reproduced',
  'reproduced with a different size',
  'no verdict',
];

const CHART_WIDTH = 720;
const CHART_HEIGHT = 340;

/** The chart's file name under charts/ and its element id. */
export function chartName(f: Pick<Finding, 'seed' | 'id'>): string {
  return `${f.seed}-${f.id}`.replace(/[^a-z0-9-]+/gi, '-');
}

function chartOption(spec: ChartSpec): EChartsOption {
  const single = spec.series.length === 1;
  return {
    animation: false,
    backgroundColor: '#fff',
    textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
    title: {
      text: spec.title,
      left: 'center',
      top: 8,
      textStyle: { fontSize: 14, fontWeight: 'bold', width: 600, overflow: 'break', lineHeight: 20 },
    },
    tooltip: { trigger: 'axis' },
    ...(single ? {} : { legend: { top: 56, type: 'scroll', itemGap: 16 } }),
    grid: { left: 56, right: 24, top: single ? 72 : 96, bottom: 64 },
    xAxis: { type: 'category', data: spec.x, axisLabel: { interval: 0, overflow: 'break', width: 140 } },
    yAxis: { type: 'value', name: spec.unit },
    series: spec.series.map((s, i) =>
      spec.kind === 'bar'
        ? {
            type: 'bar' as const,
            name: s.name,
            barMaxWidth: 64,
            label: { show: true, position: 'top' as const },
            data: s.values.map((value, j) => ({ value, itemStyle: { color: caseColor(single ? j : i) } })),
          }
        : {
            type: 'line' as const,
            name: s.name,
            itemStyle: { color: caseColor(i) },
            lineStyle: { color: caseColor(i) },
            data: s.values,
          },
    ),
  };
}

function hasChart(f: Finding): boolean {
  return f.chart.x.length > 0 && f.chart.series.length > 0;
}

function esc(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch,
  );
}

/** The little Markdown the findings' prose uses (`code`, **bold**), as HTML. */
function inline(text: string): string {
  return esc(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>');
}

function mdCell(text: string): string {
  return text.replaceAll('|', '\\|').replace(/\n/g, ' ');
}

function mdTable(header: string[], rows: string[][]): string {
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.map(mdCell).join(' | ')} |`).join('\n');
}

/** Whose words the claim is: the seed's, quoted, or a summary from elsewhere, named. */
function attribution(f: Finding): string {
  return f.claimFrom ? `not the seed's words: ${f.claimFrom}; seed \`${f.source}\`` : `seed \`${f.source}\``;
}

function titleOf(f: Finding): string {
  return f.title ?? f.id;
}

function summaryRows(study: StudyFile): string[][] {
  return study.findings.map((f) => [f.seed, titleOf(f), f.verdict, f.summary ?? '']);
}

function counts(study: StudyFile): string {
  return VERDICTS.map((v) => [v, study.findings.filter((f) => f.verdict === v).length] as const)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${n} ${v}`)
    .join(', ');
}

function intro(study: StudyFile): string {
  const minutes = (Date.parse(study.finished_at) - Date.parse(study.started_at)) / 60_000;
  return (
    `\`${study.command}\`: ${study.findings.length} findings of seed(s) ${study.seeds.join(', ')} (${counts(study)}), ` +
    `${study.repeat} run(s) per case${study.quick ? ', quick windows' : ''}, ${minutes.toFixed(1)} min on ` +
    `${study.machine.cpus} x ${study.machine.cpu_model} (load average ${study.machine.load_average.join(' / ')} at the end). ` +
    'Each bench ran on fresh databases; its run folder (run.json, report.html) is named under each finding.'
  );
}

function findingMarkdown(f: Finding): string {
  const figures =
    f.figures.length > 0
      ? mdTable(
          ['', ...f.columns],
          f.figures.map((r) => [r.label, ...f.columns.map((c) => r.values[c] ?? '')]),
        )
      : '';
  return [
    `## ${f.seed} · ${titleOf(f)}`,
    '',
    ...f.claim.split('\n').map((line) => `> ${line}`),
    '>',
    `> (${attribution(f)})`,
    '',
    `**Verdict: ${f.verdict}.**${f.summary ? ` ${f.summary}` : ''}`,
    '',
    ...(f.invalid.length > 0 ? ['**No verdict, because:**', '', ...f.invalid.map((r) => `- ${r}`), ''] : []),
    ...(f.setup ? [`**Setup.** ${f.setup}`, ''] : []),
    ...(figures ? [figures, ''] : []),
    ...(hasChart(f) ? [`![${f.chart.title}](charts/${chartName(f)}.svg)`, ''] : []),
    ...(f.mechanism ? [`**Mechanism.** ${f.mechanism}`, ''] : []),
    ...(f.runs.length > 0 ? [`Runs: ${f.runs.map((r) => `\`${r}/\``).join(', ')}`, ''] : []),
  ].join('\n');
}

export function findingsMarkdown(study: StudyFile): string {
  return [
    '# busbench study: findings',
    '',
    intro(study),
    '',
    mdTable(['Seed', 'Finding', 'Verdict', 'In one line'], summaryRows(study)),
    '',
    ...study.findings.map(findingMarkdown),
  ].join('\n');
}

function htmlTable(header: string[], rows: string[][], className = 'numbers'): string {
  const head = `<tr>${header.map((h) => `<th>${inline(h)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr>${r.map((cell, i) => (i === 0 ? `<th>${inline(cell)}</th>` : `<td>${inline(cell)}</td>`)).join('')}</tr>`,
    )
    .join('\n');
  return `<div class="scroll"><table class="${className}"><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

function findingHtml(f: Finding): string {
  const name = chartName(f);
  return `<section id="finding-${esc(name)}" class="finding">
<h2>${esc(f.seed)} · ${esc(titleOf(f))}</h2>
<blockquote>${f.claim.split('\n').map(inline).join('<br>')}<br><span class="meta">(${inline(attribution(f))})</span></blockquote>
<p class="verdict"><b>Verdict: ${esc(f.verdict)}.</b> ${inline(f.summary ?? '')}</p>
${f.invalid.length > 0 ? `<p><b>No verdict, because:</b></p><ul>${f.invalid.map((r) => `<li>${inline(r)}</li>`).join('')}</ul>` : ''}
${f.setup ? `<p><b>Setup.</b> ${inline(f.setup)}</p>` : ''}
${
  f.figures.length > 0
    ? htmlTable(
        ['', ...f.columns],
        f.figures.map((r) => [r.label, ...f.columns.map((c) => r.values[c] ?? '')]),
      )
    : ''
}
${hasChart(f) ? `<div class="charts"><div class="chart" id="chart-${esc(name)}" style="height:${CHART_HEIGHT}px"></div></div>` : ''}
${f.mechanism ? `<p><b>Mechanism.</b> ${inline(f.mechanism)}</p>` : ''}
${f.runs.length > 0 ? `<p class="meta">Runs: ${f.runs.map((r) => `<code>${esc(r)}/</code>`).join(', ')}</p>` : ''}
</section>`;
}

const FINDINGS_STYLE = `
blockquote { margin: 8px 0 12px; padding: 6px 14px; border-left: 4px solid var(--rule); color: var(--ink); }
p.verdict { font-size: 17px; }
table.numbers.text td { text-align: left; white-space: normal; min-width: 12em; }
`;

export function findingsHtml(study: StudyFile): string {
  const library = readFileSync(createRequire(import.meta.url).resolve(ECHARTS_BROWSER_BUILD), 'utf8').replace(
    /<\/script/gi,
    '<\\/script',
  );
  const charts = study.findings.filter(hasChart).map((f) => ({ name: chartName(f), option: chartOption(f.chart) }));
  const json = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>busbench study of ${esc(study.started_at)}</title>
<style>${STYLE}${FINDINGS_STYLE}</style>
</head>
<body>
<header>
<h1>busbench study: findings</h1>
<p class="meta">${inline(intro(study))}</p>
</header>
<section id="summary">
<h2>Summary</h2>
${htmlTable(['Seed', 'Finding', 'Verdict', 'In one line'], summaryRows(study), 'numbers text')}
</section>
${study.findings.map(findingHtml).join('\n')}
<script type="application/json" id="busbench-study">${json(study)}</script>
<script type="application/json" id="busbench-charts">${json(charts)}</script>
<script>${library}</script>
<script>${BOOT}</script>
</body>
</html>
`;
}

export function renderFindings(study: StudyFile): {
  markdown: string;
  html: string;
  svgs: { name: string; svg: string }[];
} {
  return {
    markdown: findingsMarkdown(study),
    html: findingsHtml(study),
    svgs: study.findings.filter(hasChart).map((f) => ({
      name: `${chartName(f)}.svg`,
      svg: renderSvg({ width: CHART_WIDTH, height: CHART_HEIGHT, option: chartOption(f.chart) }),
    })),
  };
}
