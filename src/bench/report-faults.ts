// What `busbench bench --faults` adds to the report: a marker per fault on every time series,
// a table of what each fault cost per layout, the verdict's two lines (which layout recovered
// fastest, whether any lost data), and the same table as text for the terminal.
import type { LineSeriesOption } from 'echarts';
import type { CaseResult, FaultRecord, RunFile } from './results.js';

/** Vertical lines at each fault, labelled with its kind, for a case's time series. */
export function faultMarkLine(c: CaseResult): LineSeriesOption['markLine'] | undefined {
  if (!c.faults?.length) return undefined;
  return {
    silent: true,
    symbol: 'none',
    lineStyle: { color: '#c0392b', type: 'dashed', width: 1 },
    label: { formatter: '{b}', position: 'insideEndTop', color: '#c0392b', fontSize: 10 },
    data: c.faults.map((f) => ({ name: f.kind, xAxis: f.at_s })),
  };
}

/**
 * The slowest of a fault's recoveries (first poll, first post, error rate), in ms; null when
 * one of them did not happen within its window, undefined for a fault that was not applied.
 */
export function recoveryMs(f: FaultRecord): number | null | undefined {
  if (!f.applied) return undefined;
  const { first_poll, first_post, error_rate } = f.recovery_ms;
  if (first_poll === null || first_post === null || error_rate === null) return null;
  return Math.max(first_poll, first_post, error_rate);
}

/** The case's slowest recovery over its applied faults; null if any fault did not recover. */
function worstRecovery(c: CaseResult): number | null | undefined {
  const all = (c.faults ?? []).map(recoveryMs).filter((r) => r !== undefined);
  if (all.length === 0) return undefined;
  if (all.includes(null)) return null;
  return Math.max(...(all as number[]));
}

function faultCases(run: RunFile): CaseResult[] {
  return run.cases.filter((c) => c.faults !== undefined);
}

/** Verdict lines (HTML-escaped by the caller's `esc`): fastest recovery, and lost or duplicated posts. */
export function faultVerdict(run: RunFile, esc: (text: string) => string): string[] {
  const cases = faultCases(run);
  if (cases.length === 0) return [];
  const lines: string[] = [];
  const ranked = cases
    .map((c) => ({ c, worst: worstRecovery(c) }))
    .filter((r): r is { c: CaseResult; worst: number } => typeof r.worst === 'number')
    .sort((a, b) => a.worst - b.worst);
  const [fastest] = ranked;
  if (fastest) {
    const others = ranked
      .slice(1)
      .map((r) => `${esc(r.c.id)} ${ms(r.worst)}`)
      .join(', ');
    lines.push(
      `Recovered fastest from its slowest fault: <b>${esc(fastest.c.id)}</b> (${ms(fastest.worst)}${others ? `; ${others}` : ''}). ` +
        'Recovery is the latest of: a poll sent after the fault answered, a post sent after it acknowledged, the error rate back to its pre-fault level.',
    );
  }
  const stuck = cases.filter((c) => worstRecovery(c) === null);
  if (stuck.length > 0) {
    lines.push(`Did not recover within a fault's window: ${stuck.map((c) => esc(c.id)).join(', ')}.`);
  }
  const lossy = cases.filter((c) => c.totals.delivery.lost > 0 || c.totals.delivery.duplicated > 0);
  // A case that acknowledged no post proves nothing about loss: the counts say so.
  const acked = cases.map((c) => `${esc(c.id)}: ${c.totals.delivery.posts} acknowledged`).join(', ');
  lines.push(
    lossy.length === 0
      ? `No layout lost or duplicated an acknowledged post under the faults (${acked}).`
      : `Lost or duplicated acknowledged posts under the faults: ${lossy
          .map(
            (c) =>
              `<b>${esc(c.id)}</b> (${c.totals.delivery.lost} lost, ${c.totals.delivery.duplicated} duplicated${faultsWithLoss(c)})`,
          )
          .join(', ')}.`,
  );
  return lines;
}

/** "; in the windows of pg-restart at 12 s (2 lost)...": where a lossy case's faults lost or repeated posts. */
function faultsWithLoss(c: CaseResult): string {
  const hit = (c.faults ?? []).filter((f) => f.delivery.lost + f.delivery.duplicated > 0);
  if (hit.length === 0) return '';
  const each = hit.map(
    (f) => `${f.kind} at ${f.at_s} s (${f.delivery.lost} lost, ${f.delivery.duplicated} duplicated)`,
  );
  return `; in the windows of ${each.join(', ')}`;
}

const COLUMNS = [
  'case',
  'fault',
  'at s',
  'errors (status code: n)',
  'first poll ms',
  'first post ms',
  'errors back to baseline ms',
  'restarts',
  'DB conns before/peak/end',
  'lost',
  'dup',
] as const;

function ms(value: number | null): string {
  return value === null ? 'not in window' : `${Math.round(value)} ms`;
}

function orNa(value: number | null): string {
  return value === null ? 'n/a' : String(Math.round(value));
}

/** One row per fault: strings in COLUMNS order. */
function rows(run: RunFile): string[][] {
  return faultCases(run).flatMap((c) =>
    (c.faults ?? []).map((f) => {
      if (!f.applied) return [c.id, f.kind, String(f.at_s), f.detail, '', '', '', '', '', '', ''];
      const errors = Object.entries(f.errors)
        .sort((a, b) => b[1] - a[1])
        .map(([key, n]) => `${key}: ${n}`)
        .join(', ');
      const db = f.db_connections;
      return [
        c.id,
        f.kind,
        String(f.at_s),
        errors || 'none',
        f.recovery_ms.first_poll === null ? 'none in window' : String(f.recovery_ms.first_poll),
        f.recovery_ms.first_post === null ? 'none in window' : String(f.recovery_ms.first_post),
        f.recovery_ms.error_rate === null ? 'still failing' : String(f.recovery_ms.error_rate),
        orNa(f.restarts),
        `${orNa(db.before)}/${orNa(db.peak)}/${orNa(db.end)}`,
        String(f.delivery.lost),
        String(f.delivery.duplicated),
      ];
    }),
  );
}

/** The per-layout fault table for report.html; empty without --faults. */
export function faultSection(run: RunFile, esc: (text: string) => string): string {
  const table = rows(run);
  if (table.length === 0) return '';
  const head = `<tr>${COLUMNS.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const body = table.map(
    (r) => `<tr>${r.map((cell, i) => (i === 0 ? `<th>${esc(cell)}</th>` : `<td>${esc(cell)}</td>`)).join('')}</tr>`,
  );
  return `<section id="faults">
<h2>Faults</h2>
<p class="meta">Each fault's window runs to the next fault or the end of the measurement. First poll and first post: from the fault to the first success of a request sent after it ("none in window": no such success before the next fault). Lost and dup: the delivery check of the posts due in the window (dup: repeated arrivals in it); the verdict's counts are the whole case's.</p>
<div class="scroll"><table class="numbers"><thead>${head}</thead><tbody>${body.join('')}</tbody></table></div>
</section>
`;
}

/** The same table as aligned text, for the terminal after a run. */
export function formatFaults(run: RunFile): string {
  const table = rows(run);
  if (table.length === 0) return '';
  const all = [[...COLUMNS], ...table];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
