// Reading and writing a results directory: run.json (the contract, checked against
// RUN_SCHEMA of results.ts both ways), timeseries.csv for spreadsheets, report.html and the charts as SVG.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { errors } from '../lib/errors.js';
import { renderReport } from './report.js';
import { RUN_SCHEMA, type RunFile, type Sample } from './results.js';

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
const check = ajv.compile<RunFile>(RUN_SCHEMA);
const ERRORS_SHOWN = 5;

function describe(error: ErrorObject): string {
  const where = error.instancePath || '/';
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `${where} has unknown property "${params.additionalProperty}"`;
  if (error.keyword === 'enum') return `${where} must be one of ${JSON.stringify(params.allowedValues)}`;
  return `${where} ${error.message ?? 'is invalid'}`;
}

/** The errors of the last failed check, as JSON paths. */
function lastProblems(): string {
  const found = check.errors ?? [];
  const more = found.length > ERRORS_SHOWN ? ` (and ${found.length - ERRORS_SHOWN} more)` : '';
  return `${found.slice(0, ERRORS_SHOWN).map(describe).join('; ')}${more}`;
}

/** The data as a RunFile, or an E_BAD_RUN error naming the JSON paths that break the contract. */
export function validateRun(data: unknown, source = 'the run data'): RunFile {
  if (check(data)) return data;
  throw errors.badRun(source, `does not match busbench/run@1: ${lastProblems()}`);
}

/** Reads `<dir>/run.json`; `dir` may also name the run.json file itself. */
export async function readRun(dir: string): Promise<RunFile> {
  const file = dir.endsWith('.json') ? dir : join(dir, 'run.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw errors.badRun(file, code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw errors.badRun(file, `is not valid JSON (${(err as Error).message})`);
  }
  return validateRun(data, file);
}

type RecordKey = { [K in keyof Sample]-?: Sample[K] extends Record<string, number> ? K : never }[keyof Sample];
type ScalarKey = Exclude<keyof Sample, RecordKey | 't' | 'phase'>;

// Objects rather than arrays so the compiler insists on every Sample field: a field added to
// Sample fails the build here until it has a column.
const SCALAR_COLUMNS: Record<ScalarKey, true> = {
  tabs: true,
  http_open: true,
  http_opened: true,
  queued_requests: true,
  requests: true,
  errors: true,
  deliveries: true,
  delivery_p99_ms: true,
  server_open_sockets: true,
  parked_polls: true,
  server_open_websockets: true,
  db_connections: true,
  commits: true,
  serialization_failures: true,
  retries: true,
  retried: true,
  final_failures: true,
};
/** Column prefix of each per-key field: `db_connections{busbench/cluster-fork/http/1}`, Prometheus style. */
const RECORD_COLUMNS: Record<RecordKey, string> = {
  db_connections_by_app: 'db_connections',
  cpu_percent: 'cpu_percent',
  rss_bytes: 'rss_bytes',
  event_loop_lag_ms: 'event_loop_lag_ms',
};

/** RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes. */
function csvField(value: string | number | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per case per second; a process or application_name a sample lacks is an empty cell. */
export function timeseriesCsv(run: RunFile): string {
  const scalars = Object.keys(SCALAR_COLUMNS) as ScalarKey[];
  const records = Object.keys(RECORD_COLUMNS) as RecordKey[];
  const keys = new Map<RecordKey, Set<string>>(records.map((r) => [r, new Set()]));
  for (const c of run.cases) {
    for (const s of c.timeseries) {
      for (const r of records) for (const k of Object.keys(s[r])) keys.get(r)?.add(k);
    }
  }
  const flattened = records.flatMap((r) =>
    [...(keys.get(r) ?? [])].map((k) => ({ header: `${RECORD_COLUMNS[r]}{${k}}`, value: (s: Sample) => s[r][k] })),
  );
  const header = ['case', 't', 'phase', ...scalars, ...flattened.map((f) => f.header)];
  const lines = [header.map(csvField).join(',')];
  for (const c of run.cases) {
    for (const s of c.timeseries) {
      const row = [c.id, s.t, s.phase, ...scalars.map((k) => s[k]), ...flattened.map((f) => f.value(s))];
      lines.push(row.map(csvField).join(','));
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Writes every file of a results directory and returns their paths, run.json first. */
export async function writeRunFiles(dir: string, run: RunFile): Promise<string[]> {
  await mkdir(join(dir, 'charts'), { recursive: true });
  const json = `${JSON.stringify(run, null, 2)}\n`;
  const runPath = join(dir, 'run.json');
  // run.json goes to disk before the check: a runner bug must not cost the measurements.
  await writeFile(runPath, json);
  if (!check(JSON.parse(json))) {
    throw new Error(
      `busbench bench wrote ${runPath} in breach of busbench/run@1 (a bug; the file keeps the measurements): ${lastProblems()}`,
    );
  }
  const written = [runPath];
  const write = async (path: string, content: string) => {
    await writeFile(path, content);
    written.push(path);
  };
  await write(join(dir, 'timeseries.csv'), timeseriesCsv(run));
  const report = renderReport(run);
  await write(join(dir, 'report.html'), report.html);
  for (const { name, svg } of report.svgs) await write(join(dir, 'charts', name), svg);
  return written;
}
