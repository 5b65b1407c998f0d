// The key figures of a case as plain-text tables: the one `busbench bench` prints when it
// finishes, and the side-by-side of two runs that `busbench compare` prints. The charts and
// the report's headline use the same figures, so the terminal and the report never disagree.
import { total } from '../../loadtests/lib/numbers.js';
import {
  groupRepeats,
  indistinguishable,
  loadPart,
  relativeSpread,
  type Spread,
  spreadName,
  spreadOf,
} from './repeats.js';
import type { BrowserResult, CaseResult, RunFile } from './results.js';
import { failedAttempts, invalidCases, validOnly } from './validity.js';

export interface KeyFigure {
  /** Column heading of the comparison table. */
  label: string;
  /** Decimals shown; integers always print without any. */
  digits: number;
  value: (c: CaseResult) => number | null;
}

/** Sum of each process's peak: an upper bound of the layout's peak, which the run does not sample as one figure. */
export function peakRssMb(c: CaseResult): number {
  return total(c.totals.server.processes.map((p) => p.peak_rss_bytes)) / 1e6;
}

/** 100 = one core busy over the measured seconds. */
export function cpuPercent(c: CaseResult): number {
  return total(c.totals.server.processes.map((p) => p.cpu_percent));
}

/**
 * Whether the layout served the load: every post answered and every message delivered. A
 * layout that is stuck (worker-threads --poll-holds-thread true, every thread holding a poll) holds few
 * connections because it does little; it must not win "fewest connections".
 */
export function keptUp(c: CaseResult): boolean {
  const d = c.totals.delivery;
  return d.posts_failed === 0 && d.pending === 0 && d.lost === 0;
}

export const KEY_FIGURES: KeyFigure[] = [
  { label: 'tabs', digits: 0, value: (c) => c.totals.client.tabs },
  { label: 'http conns peak', digits: 0, value: (c) => c.totals.client.http_connections_peak },
  { label: 'DB conns peak', digits: 0, value: (c) => c.totals.database.peak_connections },
  { label: 'DB conns/1k tabs', digits: 1, value: (c) => c.totals.derived.db_connections_per_1000_tabs },
  { label: 'failures/1k tx', digits: 2, value: (c) => c.totals.derived.failures_per_1000_tx },
  { label: 'failed attempts', digits: 0, value: (c) => failedAttempts(c.totals) },
  { label: 'retries', digits: 0, value: (c) => c.totals.database.app.total.retries },
  { label: 'retried tx', digits: 0, value: (c) => c.totals.database.app.total.retried ?? null },
  { label: 'failed tx', digits: 0, value: (c) => c.totals.database.app.total.final_failures },
  { label: 'delivery p50 ms', digits: 1, value: (c) => c.totals.delivery.latency_ms.p50 },
  { label: 'delivery p99 ms', digits: 1, value: (c) => c.totals.delivery.latency_ms.p99 },
  { label: 'lost', digits: 0, value: (c) => c.totals.delivery.lost },
  { label: 'dup', digits: 0, value: (c) => c.totals.delivery.duplicated },
  { label: 'peak RSS MB', digits: 0, value: peakRssMb },
  { label: 'CPU %', digits: 0, value: cpuPercent },
];

export function formatNumber(value: number | null, digits: number): string {
  if (value === null) return '-';
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

/** Left-aligns the text columns and right-aligns the rest, so numbers line up on their last digit. */
function table(rows: string[][], textColumns: number): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i < textColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** What the transaction columns count, under pgbench's names where they are pgbench's quantities. */
export const TRANSACTION_COLUMNS =
  'failed attempts: every 40001/40P01/55P03 attempt rolled back, retries included (pg_stat_database.xact_rollback counts the same); ' +
  'retries: pgbench\'s "total number of retries" (under --faults also units run again after their connection was lost before COMMIT); retried tx: pgbench\'s "number of transactions retried" (retried at least once, then committed or failed); failed tx: pgbench\'s "number of failed transactions" (failed for good); ' +
  'failures/1k tx: failed attempts per 1,000 commits';

/** "invalid, left out: id (reason; reason)", one line per invalid case; empty when all are valid. */
export function formatInvalid(run: RunFile): string {
  return invalidCases(run)
    .map((c) => `invalid, left out: ${c.id} (${c.reasons.join('; ')})\n`)
    .join('');
}

/** The key figures of the valid cases, one row each; the invalid ones are named below, with why. */
export function formatComparison(run: RunFile): string {
  const header = ['case', ...KEY_FIGURES.map((f) => f.label)];
  const rows = validOnly(run).cases.map((c) => [c.id, ...KEY_FIGURES.map((f) => formatNumber(f.value(c), f.digits))]);
  return `${rows.length > 0 ? `${table([header, ...rows], 1)}\n` : 'no valid case\n'}${formatInvalid(run)}`;
}

export interface BrowserFigure {
  label: string;
  digits: number;
  value: (b: BrowserResult) => number | null;
}

/** The real-browser figures, in the terminal and in the report's "Real browser tabs" table. */
export const BROWSER_FIGURES: BrowserFigure[] = [
  { label: 'tabs', digits: 0, value: (b) => b.browsers * b.tabs_per_browser },
  { label: 'ready s', digits: 1, value: (b) => b.ready_ms / 1000 },
  { label: 'polls in flight', digits: 0, value: (b) => b.polls_in_flight },
  { label: 'parked polls', digits: 0, value: (b) => b.parked_polls },
  { label: 'parked/browser', digits: 1, value: (b) => b.parked_polls_per_browser },
  { label: 'sockets/browser', digits: 1, value: (b) => b.sockets_per_browser },
  { label: 'websockets/browser', digits: 1, value: (b) => b.websockets_per_browser ?? null },
  { label: 'presence writes', digits: 0, value: (b) => b.presence_writes },
  { label: '40001s', digits: 0, value: (b) => b.serialization_failures },
  { label: 'expected', digits: 0, value: (b) => b.expected },
  { label: 'lost', digits: 0, value: (b) => b.lost },
  { label: 'dup', digits: 0, value: (b) => b.duplicated },
  { label: 'delivery ms', digits: 0, value: (b) => b.delivery_ms },
  { label: 'handover ms', digits: 0, value: (b) => b.handover_ms },
];

export function formatBrowser(results: BrowserResult[]): string {
  const header = ['real browser tabs', ...BROWSER_FIGURES.map((f) => f.label)];
  const rows = results.map((b) => [b.id, ...BROWSER_FIGURES.map((f) => formatNumber(f.value(b), f.digits))]);
  return `${table([header, ...rows], 1)}\n`;
}

function change(a: number | null, b: number | null): string {
  if (a === null || b === null) return '-';
  if (a === b) return '0%';
  // A change from zero has no percentage; say which way it went instead of printing Infinity.
  if (a === 0) return b > 0 ? 'up from 0' : 'down from 0';
  const pct = ((b - a) / Math.abs(a)) * 100;
  return `${pct > 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

export function formatSideBySide(a: RunFile, b: RunFile, labels: [string, string]): string {
  const invalid = [
    ...invalidCases(a).map((c) => `invalid in A, left out: ${c.id} (${c.reasons.join('; ')})`),
    ...invalidCases(b).map((c) => `invalid in B, left out: ${c.id} (${c.reasons.join('; ')})`),
  ];
  const valid = [validOnly(a), validOnly(b)] as const;
  return `${sideBySide(valid[0], valid[1], labels)}${invalid.map((line) => `${line}\n`).join('')}`;
}

function sideBySide(a: RunFile, b: RunFile, [labelA, labelB]: [string, string]): string {
  const casesB = new Map(b.cases.map((c) => [c.id, c]));
  const idsA = new Set(a.cases.map((c) => c.id));
  const lines = [`A = ${labelA} (started ${a.started_at})`, `B = ${labelB} (started ${b.started_at})`, ''];
  const rows: string[][] = [['case', 'figure', 'A', 'B', 'change']];
  for (const caseA of a.cases) {
    const caseB = casesB.get(caseA.id);
    if (!caseB) continue;
    // An empty row between cases; table() trims it to a blank line.
    if (rows.length > 1) rows.push(['', '', '', '', '']);
    KEY_FIGURES.forEach((f, i) => {
      const va = f.value(caseA);
      const vb = f.value(caseB);
      rows.push([
        i === 0 ? caseA.id : '',
        f.label,
        formatNumber(va, f.digits),
        formatNumber(vb, f.digits),
        change(va, vb),
      ]);
    });
  }
  lines.push(rows.length > 1 ? table(rows, 2) : 'no case is in both runs');
  const onlyA = a.cases.filter((c) => !casesB.has(c.id)).map((c) => c.id);
  const onlyB = b.cases.filter((c) => !idsA.has(c.id)).map((c) => c.id);
  if (onlyA.length > 0 || onlyB.length > 0) lines.push('');
  if (onlyA.length > 0) lines.push(`only in A (${labelA}): ${onlyA.join(', ')}`);
  if (onlyB.length > 0) lines.push(`only in B (${labelB}): ${onlyB.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** A figure's runs as "mean +- spread (+-x %)"; "exact" when every run gave the same value. */
function spreadText(s: Spread, digits: number): string {
  const rel = relativeSpread(s);
  if (s.spread === null) return `${formatNumber(s.mean, digits)} (one run)`;
  const pct = rel === null ? '' : rel === 0 ? ', exact' : ` (+-${(rel * 100).toFixed(1)} %)`;
  return `${formatNumber(s.mean, digits)} +- ${formatNumber(s.spread, digits)}${pct}`;
}

/** The figures the verdict compares layouts by; the terminal says which of their differences are noise. */
export const NOISE_FIGURES = ['DB conns/1k tabs', 'failures/1k tx', 'delivery p99 ms', 'peak RSS MB', 'CPU %'];

export interface RepeatedFigure {
  figure: KeyFigure;
  groups: { id: string; spread: Spread | null }[];
}

/** Every key figure of every repeated case, over its valid runs only. */
export function repeatedFigures(run: RunFile): RepeatedFigure[] {
  const groups = groupRepeats(validOnly(run).cases).filter((g) => g.cases.length > 1);
  if (groups.length === 0) return [];
  return KEY_FIGURES.map((figure) => ({
    figure,
    groups: groups.map((g) => ({ id: g.id, spread: spreadOf(g.cases.map(figure.value)) })),
  }));
}

/**
 * Pairs of cases whose difference in the figure is within their spreads: noise, not a
 * difference. Only cases at the same load are compared: layouts at two loads differ by design.
 */
export function indistinguishablePairs(f: RepeatedFigure): [string, string][] {
  const pairs: [string, string][] = [];
  f.groups.forEach((a, i) => {
    for (const b of f.groups.slice(i + 1)) {
      if (loadPart(a.id) !== loadPart(b.id)) continue;
      if (a.spread && b.spread && indistinguishable(a.spread, b.spread)) {
        pairs.push([a.id, b.id]);
      }
    }
  });
  return pairs;
}

/**
 * `--repeat N`: each key figure of each case as its runs and mean +- spread, then the pairs
 * that differ by less than their spread. Empty when nothing was repeated.
 */
export function formatSpread(run: RunFile): string {
  const figures = repeatedFigures(run);
  if (figures.length === 0) return '';
  const rows: string[][] = [['case', 'figure', 'runs', 'mean +- spread']];
  const ids = figures[0]?.groups.map((g) => g.id) ?? [];
  ids.forEach((id, g) => {
    figures.forEach((f, i) => {
      const s = f.groups[g]?.spread;
      rows.push([
        i === 0 ? id : '',
        f.figure.label,
        s ? s.values.map((v) => formatNumber(v, f.figure.digits)).join(' ') : '-',
        s ? spreadText(s, f.figure.digits) : 'n/a',
      ]);
    });
  });
  const kinds = figures.flatMap((f) => f.groups.flatMap((g) => (g.spread ? [g.spread.kind] : [])));
  const noise = figures
    .filter((f) => NOISE_FIGURES.includes(f.figure.label))
    .flatMap((f) =>
      indistinguishablePairs(f).map(([a, b]) => `indistinguishable in ${f.figure.label}: ${a} and ${b}\n`),
    );
  return `${table(rows, 3)}\nspread: ${spreadName(kinds)}, over the valid runs\n${noise.join('')}`;
}

/** What `--transport longpoll,websocket` compares, per layout (and whatever else the sweep varied). */
export const TRANSPORT_FIGURES: KeyFigure[] = [
  { label: 'tabs', digits: 0, value: (c) => c.totals.client.tabs },
  { label: 'server sockets/1k tabs', digits: 0, value: (c) => c.totals.derived.server_sockets_per_1000_tabs ?? null },
  { label: 'websockets/1k tabs', digits: 0, value: (c) => c.totals.derived.websockets_per_1000_tabs ?? null },
  { label: 'parked polls peak', digits: 0, value: (c) => c.totals.server.peak_parked_polls },
  { label: 'DB conns/1k tabs', digits: 1, value: (c) => c.totals.derived.db_connections_per_1000_tabs },
  { label: 'failures/1k tx', digits: 2, value: (c) => c.totals.derived.failures_per_1000_tx },
  { label: 'delivery p50 ms', digits: 1, value: (c) => c.totals.delivery.latency_ms.p50 },
  { label: 'delivery p99 ms', digits: 1, value: (c) => c.totals.delivery.latency_ms.p99 },
  { label: 'held conns', digits: 0, value: (c) => c.totals.server.mean_held_connections ?? null },
  {
    label: 'RSS KB/held conn',
    digits: 1,
    value: (c) => {
      const bytes = c.totals.derived.rss_bytes_per_connection;
      return bytes === undefined || bytes === null ? null : bytes / 1000;
    },
  },
];

/** What a column of the transport table means, for the line under it. */
export const TRANSPORT_COLUMNS =
  "server sockets: the layout's peak client TCP connections (websockets and HTTP keep-alive) from /metrics; " +
  'held conns: mean open websockets plus parked polls; RSS KB/held conn: RSS growth since before the load over held conns, ' +
  '"-" under 1,000 held connections, where it is the heap warming up';

/** The case's id without its transport, so a layout's cases on both transports sort together. */
export function withoutTransport(c: CaseResult): string {
  return c.id.replace(/ transport=[a-z]+/, '');
}

/** Valid cases of a run that compared transports, a layout's transports side by side; empty otherwise. */
export function transportCases(run: RunFile): CaseResult[] {
  const cases = validOnly(run).cases;
  if (new Set(cases.map((c) => c.transport ?? 'longpoll')).size < 2) return [];
  const keys = [...new Set(cases.map(withoutTransport))];
  return keys.flatMap((key) => cases.filter((c) => withoutTransport(c) === key));
}

/** Long polling against websockets, per layout; '' when the run measured one transport. */
export function formatTransports(run: RunFile): string {
  const cases = transportCases(run);
  if (cases.length === 0) return '';
  const header = ['case', 'transport', ...TRANSPORT_FIGURES.map((f) => f.label)];
  const rows = cases.map((c) => [
    withoutTransport(c),
    c.transport ?? 'longpoll',
    ...TRANSPORT_FIGURES.map((f) => formatNumber(f.value(c), f.digits)),
  ]);
  return `${table([header, ...rows], 2)}\n${TRANSPORT_COLUMNS}\n`;
}
