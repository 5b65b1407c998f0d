// The README's option and error-code tables, rendered from the definitions so a flag, default
// or code is documented where it is defined. `node dist/src/cli/docs.js` checks README.md,
// `--write` (npm run docs) rewrites the blocks between the `<!-- generated: name -->` markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_OPTIONS, CAPACITY_OPTIONS, EXPORTER_OPTIONS } from '../bench/options.js';
import { ERROR_CODES } from '../lib/errors.js';
import type { OptionTable } from '../lib/options.js';
import { OPTIONS } from '../lib/server-options.js';
import { STUDY_OPTIONS } from '../study/options.js';
import { PROFILE_TABLE_HEADER, PROFILE_TABLE_NOTE, profileTableRows } from './profile-table.js';
import { SERVE_OPTIONS } from './serve.js';

/** The bench flags that only matter with --browser; the README documents them with the browser bench. */
export const BROWSER_KEYS = ['browser', 'browserModes', 'browserCount', 'browserTabs'] as const;

const pick = (table: OptionTable, keep: (key: string) => boolean): OptionTable =>
  Object.fromEntries(Object.entries(table).filter(([key]) => keep(key)));

const isBrowserKey = (key: string) => (BROWSER_KEYS as readonly string[]).includes(key);

/** Each generated block of README.md by marker name, with the definitions it documents. */
export const OPTION_BLOCKS = {
  'bench-options': pick(BENCH_OPTIONS, (key) => !isBrowserKey(key)),
  'browser-options': pick(BENCH_OPTIONS, isBrowserKey),
  'server-options': OPTIONS,
  'serve-options': SERVE_OPTIONS,
  'capacity-options': CAPACITY_OPTIONS,
  'exporter-options': EXPORTER_OPTIONS,
  'study-options': STUDY_OPTIONS,
} satisfies Record<string, OptionTable>;

export type BlockName = keyof typeof OPTION_BLOCKS | 'error-codes' | 'load-profiles';

const code = (text: string) => `\`${text}\``;

/** Markdown would read `<profile>` as an HTML tag, so a word holding one becomes code. */
const cell = (text: string) => text.replaceAll('|', '\\|').replace(/[^\s`(]*<[^\s<>]+>[^\s`,;:)]*/g, code);

/** A padded Markdown table, so README.md stays readable as text. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * A default as a reader types it. A null default means "decided elsewhere"; the option's doc
 * says where in a trailing "(null: ...)", which moves to the Default column.
 */
function shown(doc: string, value: unknown): { default: string; description: string } {
  if (value === null) {
    const meaning = /^(.*) \(null: (.+)\)$/.exec(doc);
    if (!meaning?.[1] || !meaning[2]) return { default: '(none)', description: doc };
    return { default: `(${meaning[2].replace(/^the profile's/, 'profile')})`, description: meaning[1] };
  }
  if (value === '') return { default: '(empty)', description: doc };
  return { default: code(Array.isArray(value) ? value.join(',') : String(value)), description: doc };
}

export function renderOptionTable(table: OptionTable): string {
  const rows = Object.values(table).map((o) => {
    const { default: value, description } = shown(o.doc, o.default);
    return [code(o.flag), code(o.env), value, cell(description)];
  });
  return markdownTable(['Flag', 'Environment variable', 'Default', 'Description'], rows);
}

export function renderErrorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([name, doc]) => {
    const status = 'status' in doc ? String(doc.status) : `exit code ${doc.exitCode}`;
    const retry = 'retryAfter' in doc ? ` \`Retry-After: ${doc.retryAfter}\`.` : '';
    return [code(name), status, `${doc.when}${retry}`];
  });
  return markdownTable(['Code', 'Status', 'When'], rows);
}

export function renderBlocks(): Record<BlockName, string> {
  const options = Object.fromEntries(
    Object.entries(OPTION_BLOCKS).map(([name, table]) => [name, renderOptionTable(table)]),
  ) as Record<keyof typeof OPTION_BLOCKS, string>;
  const profiles = `${markdownTable(PROFILE_TABLE_HEADER, profileTableRows())}\n\n${PROFILE_TABLE_NOTE}`;
  return { ...options, 'error-codes': renderErrorTable(), 'load-profiles': profiles };
}

const START = (name: string) => `<!-- generated: ${name} -->\n`;
const END = '\n<!-- /generated -->';

/** Where a block's text sits in the README, or undefined when its markers are missing. */
function locate(readme: string, name: string): { from: number; to: number } | undefined {
  const start = readme.indexOf(START(name));
  if (start < 0) return undefined;
  const from = start + START(name).length;
  const to = readme.indexOf(END, from);
  return to < 0 ? undefined : { from, to };
}

/** The blocks whose text differs from the definitions, or whose markers are missing. */
export function driftedBlocks(readme: string, blocks: Record<string, string> = renderBlocks()): string[] {
  return Object.entries(blocks)
    .filter(([name, text]) => {
      const at = locate(readme, name);
      return !at || readme.slice(at.from, at.to) !== text;
    })
    .map(([name]) => name);
}

/** The README with every block between its markers rendered anew; blocks without markers stay out. */
export function writeBlocks(readme: string, blocks: Record<string, string> = renderBlocks()): string {
  let out = readme;
  for (const [name, text] of Object.entries(blocks)) {
    const at = locate(out, name);
    if (at) out = out.slice(0, at.from) + text + out.slice(at.to);
  }
  return out;
}

export const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(README, 'utf8');
  const next = process.argv.includes('--write') ? writeBlocks(readme) : readme;
  if (next !== readme) writeFileSync(README, next);
  const drifted = driftedBlocks(next);
  if (drifted.length > 0) {
    const missing = drifted.filter((name) => !locate(next, name));
    console.error(
      missing.length > 0
        ? `README.md lacks the markers <!-- generated: ${missing.join(' -->, <!-- generated: ')} --> ... <!-- /generated -->`
        : `README.md's generated blocks ${drifted.join(', ')} differ from the definitions; run npm run docs`,
    );
    process.exitCode = 1;
  } else if (next !== readme) console.log('README.md: generated blocks rewritten');
}
