// `busbench study --quick --seed 000` end to end: the real CLI runs seed 000's experiments
// through real benches on the test's PostgreSQL, once; the tests then read what it wrote.
// `--seed 004` (the quickest of the experiments that measure themselves) checks the same
// structure for a finding whose figures come from its own measurements.json.
// Replaying its saved runs through the same experiments checks the verdict logic itself:
// the same runs give the same verdicts, and a run whose cases are invalid gives none.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RunFile } from '../src/bench/results.js';
import { readRun } from '../src/bench/run-file.js';
import { commandLine } from '../src/study/bench-run.js';
import type { Experiment, Finding, StudyContext } from '../src/study/experiment.js';
import { EXPERIMENTS } from '../src/study/experiments.js';
import { chartName, VERDICTS } from '../src/study/findings.js';
import {
  bugShows,
  MEASUREMENTS_FILE,
  type MeasurementsFile,
  rate,
  saveMeasurements,
  show,
} from '../src/study/seed-lab.js';
import type { StudyFile } from '../src/study/study-file.js';
import { adminUrl } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SEEDS_DIR = fileURLToPath(new URL('../../../shared/seeds/', import.meta.url));
const SEED_000 = EXPERIMENTS.filter((e) => e.seed === '000');
const SEED_004 = EXPERIMENTS.filter((e) => e.seed === '004');

interface Study {
  dir: string;
  study: StudyFile;
  markdown: string;
  html: string;
  stderr: string;
}

/** The seeds are reStructuredText: the quotes drop its markup (``literal``, `link`_, *emphasis*, [#note]_). */
const plain = (text: string) =>
  text
    .replace(/``/g, '')
    .replace(/\[#\w+\]_/g, '')
    .replace(/`([^`]+)`_?/g, '$1')
    .replace(/(\w)_\b/g, '$1')
    .replace(/\\ /g, '')
    .replace(/\*/g, '')
    .replace(/\s+/g, ' ');

const running = new Map<string, Promise<Study>>();

/** The one study of `seed` every test reads: run on first use, on the test server. */
function study(seed = '000'): Promise<Study> {
  const pending = running.get(seed) ?? runStudy(seed);
  running.set(seed, pending);
  return pending;
}

function runStudy(seed: string): Promise<Study> {
  return (async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'busbench-study-'));
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [CLI, 'study', '--quick', '--seed', seed, '--out', out],
      { env: { ...process.env, DATABASE_URL: adminUrl(), CI: 'true' }, maxBuffer: 20 * 1024 * 1024, timeout: 600_000 },
    );
    const [folder] = (await readdir(out)).filter((name) => name.startsWith('study-'));
    assert.ok(folder, `no study-<timestamp>/ folder in ${out}:\n${stderr}`);
    const dir = path.join(out, folder);
    const study = JSON.parse(await readFile(path.join(dir, 'study.json'), 'utf8')) as StudyFile;
    return {
      dir,
      study,
      markdown: await readFile(path.join(dir, 'FINDINGS.md'), 'utf8'),
      html: await readFile(path.join(dir, 'findings.html'), 'utf8'),
      stderr,
    };
  })();
}

const STUDY_TIMEOUT = { timeout: 660_000 };

/** The Markdown of one finding: from its heading to the next. */
function section(markdown: string, f: Finding): string {
  const heading = `## ${f.seed} · ${f.title ?? f.id}\n`;
  const start = markdown.indexOf(heading);
  assert.ok(start >= 0, `FINDINGS.md has no section "${heading.trim()}"`);
  const next = markdown.indexOf('\n## ', start + heading.length);
  return markdown.slice(start, next < 0 ? undefined : next);
}

test(
  'study --quick --seed 000 writes one FINDINGS.md section per experiment: claim, setup, figures, chart, verdict, mechanism',
  STUDY_TIMEOUT,
  async () => {
    const { dir, study: s, markdown, stderr } = await study();
    assert.deepEqual(
      s.findings.map((f) => f.id),
      SEED_000.map((e) => e.id),
    );
    assert.match(stderr, /\[study 1\/5 000\/layouts\]/, 'progress lines name the experiment');
    assert.match(stderr, /\[study\] done in \d+ min \d+ s/, 'the study ends with its total time');
    assert.deepEqual(
      s.timings.map((t) => t.id),
      SEED_000.map((e) => e.id),
      'study.json times every experiment',
    );
    for (const f of s.findings) {
      const text = section(markdown, f);
      assert.ok(VERDICTS.includes(f.verdict), `${f.id}: verdict "${f.verdict}"`);
      assert.ok(text.includes(`**Verdict: ${f.verdict}.**`), `${f.id}: no verdict line`);
      assert.ok(text.includes(`> ${f.claim}`), `${f.id}: the claim is not quoted`);
      assert.ok(text.includes(`seed \`${f.source}\``), `${f.id}: no seed file name`);
      assert.match(
        text,
        /\*\*Setup\.\*\* .*Rerun: `busbench bench --profile seed-000[^`]*`/,
        `${f.id}: no command to rerun`,
      );
      assert.match(text, /\*\*Mechanism\.\*\* \S/, `${f.id}: no mechanism`);
      // The header row and one row per figure row.
      assert.equal(text.split('\n').filter((line) => line.startsWith('| ')).length, f.figures.length + 2, f.id);
      assert.ok(f.figures.length > 0, `${f.id}: no figures`);
      const svg = `charts/${chartName(f)}.svg`;
      assert.ok(text.includes(`](${svg})`), `${f.id}: no chart`);
      assert.match(await readFile(path.join(dir, svg), 'utf8'), /^<svg/);
      assert.ok(f.runs.length > 0, `${f.id}: no run folder`);
      for (const run of f.runs) {
        assert.ok(text.includes(`\`${run}/\``), `${f.id}: run ${run} not named`);
        await access(path.join(dir, run, 'run.json'));
      }
    }
    const table = markdown.slice(markdown.indexOf('| Seed |'), markdown.indexOf('\n## '));
    for (const f of s.findings)
      assert.ok(table.includes(`| ${f.verdict} | ${f.summary} |`), `${f.id}: not in the summary`);
  },
);

test(
  'study --quick --seed 004 writes its own measurements: claim, setup, figures, chart, verdict on valid cases, mechanism, measurements.json',
  STUDY_TIMEOUT,
  async () => {
    const { dir, study: s, markdown, stderr } = await study('004');
    assert.deepEqual(
      s.findings.map((f) => f.id),
      SEED_004.map((e) => e.id),
    );
    assert.match(stderr, /\[study 1\/1 004\/cache-signaling\]/, 'progress lines name the experiment');
    const seeds = await readdir(SEEDS_DIR).catch(() => [] as string[]);
    for (const f of s.findings) {
      const text = section(markdown, f);
      assert.ok(VERDICTS.includes(f.verdict), `${f.id}: verdict "${f.verdict}"`);
      assert.ok(text.includes(`**Verdict: ${f.verdict}.** ${f.summary}`), `${f.id}: no verdict line with its summary`);
      assert.ok(f.summary && /\d/.test(f.summary), `${f.id}: the summary has no figure`);
      assert.ok(text.includes(`> ${f.claim}`), `${f.id}: the claim is not quoted`);
      assert.ok(text.includes(`seed \`${f.source}\``), `${f.id}: no seed file name`);
      if (seeds.includes(f.source)) {
        const seed = plain(await readFile(path.join(SEEDS_DIR, f.source), 'utf8'));
        for (const part of f.claim.split(' [...] '))
          assert.ok(seed.includes(plain(part).trim()), `${f.id}: "${part}" not in the seed`);
      }
      assert.match(
        text,
        /\*\*Setup\.\*\* .*`busbench serve --topology cluster-fork[^`]*`/,
        `${f.id}: no command to rerun`,
      );
      assert.match(text, /\*\*Mechanism\.\*\* \S/, `${f.id}: no mechanism`);
      assert.ok(f.figures.length > 0, `${f.id}: no figures`);
      assert.equal(text.split('\n').filter((line) => line.startsWith('| ')).length, f.figures.length + 2, f.id);
      const svg = `charts/${chartName(f)}.svg`;
      assert.ok(text.includes(`](${svg})`), `${f.id}: no chart`);
      assert.match(await readFile(path.join(dir, svg), 'utf8'), /^<svg/);
      assert.ok(f.runs.length > 0, `${f.id}: no run folder`);
      assert.ok(f.cases && f.cases.length > 0, `${f.id}: no cases named`);
      for (const run of f.runs) {
        assert.ok(text.includes(`\`${run}/\``), `${f.id}: run ${run} not named`);
        const saved = JSON.parse(await readFile(path.join(dir, run, MEASUREMENTS_FILE), 'utf8')) as MeasurementsFile;
        assert.equal(saved.experiment, f.id);
        for (const c of saved.cases) {
          assert.equal(c.runs.length, s.repeat, `${f.id}: ${c.id} has a figure for every run`);
          assert.ok(text.includes(c.serve), `${f.id}: the setup gives ${c.id}'s command`);
        }
        for (const ref of f.cases.filter((r) => r.run === run)) {
          const c = saved.cases.find((x) => x.id === ref.id);
          assert.ok(c, `${f.id}: ${ref.id} not in ${run}`);
          assert.equal(c.valid, ref.valid, `${f.id}: ${ref.id}'s validity`);
          if (!ref.valid) assert.equal(f.verdict, 'no verdict', `${f.id} rests on invalid ${ref.id}`);
        }
      }
      if (f.verdict !== 'no verdict') assert.deepEqual(f.invalid, [], `${f.id}: a verdict with invalid cases`);
    }
    const table = markdown.slice(markdown.indexOf('| Seed |'), markdown.indexOf('\n## '));
    for (const f of s.findings)
      assert.ok(table.includes(`| ${f.verdict} | ${f.summary} |`), `${f.id}: not in the summary`);
  },
);

test(
  'findings.html is self-contained: every finding, its chart drawn from inlined ECharts, no URL to fetch',
  STUDY_TIMEOUT,
  async () => {
    const { html, study: s } = await study();
    const charts = JSON.parse(
      /<script type="application\/json" id="busbench-charts">(.*?)<\/script>/s.exec(html)?.[1] ?? '[]',
    );
    assert.equal(charts.length, s.findings.length);
    for (const f of s.findings) {
      assert.ok(html.includes(`id="finding-${chartName(f)}"`), `${f.id}: no section`);
      assert.ok(html.includes(`id="chart-${chartName(f)}"`), `${f.id}: no chart`);
    }
    const embedded = JSON.parse(
      /<script type="application\/json" id="busbench-study">(.*?)<\/script>/s.exec(html)?.[1] ?? '{}',
    );
    assert.deepEqual(embedded.findings, s.findings);
    const markup = html.replace(/<script[^>]*>.*?<\/script>/gs, '<script></script>');
    assert.doesNotMatch(markup, /<(script|link|img|iframe)[^>]+(src|href)=/i, 'nothing loaded from elsewhere');
    assert.match(html, /echarts/);
  },
);

test(
  'every verdict rests on valid cases, each named with its run folder and checked against its run.json',
  STUDY_TIMEOUT,
  async () => {
    const { dir, study: s } = await study();
    for (const f of s.findings) {
      assert.ok(f.cases && f.cases.length > 0, `${f.id}: no cases named`);
      for (const ref of f.cases) {
        const run = await readRun(path.join(dir, ref.run));
        const c = run.cases.find((x) => x.id === ref.id);
        assert.ok(c, `${f.id}: ${ref.id} not in ${ref.run}`);
        assert.equal(c.validity?.valid, ref.valid, `${f.id}: ${ref.id}'s validity`);
      }
      const invalid = f.cases.filter((ref) => !ref.valid);
      if (invalid.length > 0) {
        assert.equal(f.verdict, 'no verdict', `${f.id} rests on invalid ${invalid.map((r) => r.id).join(', ')}`);
        for (const ref of invalid)
          assert.ok(
            f.invalid.some((line) => line.startsWith(ref.id)),
            `${f.id}: ${ref.id} not named`,
          );
      }
      if (f.verdict !== 'no verdict') assert.deepEqual(f.invalid, [], `${f.id}: a verdict with invalid cases`);
    }
  },
);

test(
  "the isolation finding shows PostgreSQL's own text: none at read committed, 40001 'could not serialize access due to concurrent update' at repeatable read",
  STUDY_TIMEOUT,
  async () => {
    const { dir, study: s } = await study();
    const f = s.findings.find((x) => x.id === 'isolation');
    assert.ok(f);
    const rows = Object.fromEntries(f.figures.map((r) => [r.label, r]));
    const messages = 'SQLSTATE "PostgreSQL message" x attempts';
    assert.equal(rows['read-committed']?.values[messages], 'none', 'read committed waits instead of failing');
    const rr = f.cases?.find((ref) => !ref.id.includes('isolation='));
    assert.ok(rr, 'the repeatable-read case is named');
    const run = await readRun(path.join(dir, rr.run));
    const texts = run.cases.find((c) => c.id === rr.id)?.totals.database.app.failure_messages ?? {};
    const failures = run.cases.find((c) => c.id === rr.id)?.totals.database.app.total.serialization_failures ?? 0;
    assert.equal(
      Object.values(texts['40001'] ?? {}).reduce((a, b) => a + b, 0),
      failures,
      'every 40001 has its message counted',
    );
    if (failures > 0) {
      assert.deepEqual(Object.keys(texts['40001'] ?? {}), ['could not serialize access due to concurrent update']);
      assert.match(
        rows['repeatable-read']?.values[messages] ?? '',
        /^40001 "could not serialize access due to concurrent update" x\d+$/,
      );
    } else {
      assert.equal(f.verdict, 'no verdict', 'no 40001 at repeatable read: nothing to show');
    }
  },
);

test('every claim not marked as a summary is quoted word for word from its seed file', async (t) => {
  const files = await readdir(SEEDS_DIR).catch(() => undefined);
  if (!files) {
    t.skip(`no seeds at ${SEEDS_DIR}`);
    return;
  }
  for (const e of EXPERIMENTS) {
    const file = files.find((name) => name === e.source);
    assert.ok(file, `${e.seed}/${e.id}: no seed file ${e.source}`);
    if (e.claimFrom) continue;
    const seed = plain(await readFile(path.join(SEEDS_DIR, file), 'utf8'));
    for (const part of e.claim.split(' [...] ')) {
      assert.ok(seed.includes(plain(part).trim()), `${e.seed}/${e.id}: "${part}" is not in ${file}`);
    }
  }
});

/** A StudyContext that answers each bench from the study's saved runs, `change` applied to each. */
function replay(s: Study, change: (run: RunFile) => RunFile): StudyContext {
  return {
    quick: s.study.quick,
    repeat: s.study.repeat,
    databaseUrl: adminUrl(),
    progress: () => {},
    shared: (_key, make) => make(),
    async folder(slug) {
      const dir = await mkdtemp(path.join(os.tmpdir(), `busbench-replay-${slug}-`));
      return { dir, name: path.relative(s.dir, dir) };
    },
    async bench(label, flags) {
      const saved = s.study.runs.find((r) => r.command === commandLine(flags));
      assert.ok(saved, `${label}: the study ran no ${commandLine(flags)}`);
      return { folder: saved.folder, run: change(await readRun(path.join(s.dir, saved.folder))) };
    },
  };
}

function runAgain(e: Experiment, ctx: StudyContext): Promise<Finding> {
  return e.run.call(e, ctx);
}

test('replayed from its saved runs, each experiment gives the verdicts the study wrote', STUDY_TIMEOUT, async () => {
  const s = await study();
  for (const e of SEED_000) {
    const again = await runAgain(
      e,
      replay(s, (run) => run),
    );
    const written = s.study.findings.find((f) => f.id === e.id);
    assert.equal(again.verdict, written?.verdict, e.id);
    assert.equal(again.summary, written?.summary, e.id);
  }
});

test(
  'a finding whose cases are invalid gives no verdict and names each case with its reasons',
  STUDY_TIMEOUT,
  async () => {
    const s = await study();
    const reason = 'no tab got in';
    const invalidate = (run: RunFile): RunFile => ({
      ...run,
      cases: run.cases.map((c) => ({ ...c, validity: { valid: false, reasons: [reason] } })),
    });
    for (const e of SEED_000) {
      const f = await runAgain(e, replay(s, invalidate));
      assert.equal(f.verdict, 'no verdict', e.id);
      assert.ok(f.invalid.length > 0, `${e.id}: the invalid cases are not named`);
      for (const ref of f.cases ?? []) {
        assert.equal(ref.valid, false);
        assert.ok(
          f.invalid.some((line) => line.startsWith(ref.id) && line.endsWith(reason)),
          `${e.id}: ${ref.id} not named with its reason`,
        );
      }
    }
  },
);

test('measurements.json marks invalid the case a reason names, and every case when a reason names none', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'busbench-measurements-'));
  const ctx: StudyContext = {
    quick: true,
    repeat: 1,
    databaseUrl: adminUrl(),
    progress: () => {},
    shared: (_key, make) => make(),
    async folder(slug) {
      const dir = await mkdtemp(path.join(root, `${slug}-`));
      return { dir, name: path.relative(root, dir) };
    },
    bench: () => Promise.reject(new Error('no bench here')),
  };
  const cases = [
    { name: 'on', flags: { topology: 'single-process' } },
    { name: 'off', flags: { topology: 'cluster-fork' } },
  ];
  const results = new Map([
    ['on', [{ reads: 4 }]],
    ['off', [{ reads: 0 }]],
  ]);
  const named = await saveMeasurements(ctx, { seed: '999', id: 'x' }, { rounds: 2 }, cases, results, ['off: no read']);
  assert.deepEqual(
    named.cases.map((c) => [c.id, c.valid]),
    [
      ['on', true],
      ['off', false],
    ],
  );
  const [run] = named.runs;
  assert.ok(run);
  const saved = JSON.parse(await readFile(path.join(root, run, MEASUREMENTS_FILE), 'utf8')) as MeasurementsFile;
  assert.deepEqual(saved.parameters, { rounds: 2 });
  assert.deepEqual(saved.cases[1]?.runs, [{ reads: 0 }]);
  assert.deepEqual(saved.cases[1]?.reasons, ['off: no read']);
  assert.equal(saved.cases[0]?.serve, 'busbench serve --topology single-process');
  const unnamed = await saveMeasurements(ctx, { seed: '999', id: 'y' }, {}, cases, results, [
    'the sampler took nothing',
  ]);
  assert.deepEqual(
    unnamed.cases.map((c) => c.valid),
    [false, false],
  );
});

test('a one-run rate is weighed against its counting noise: a few events over none give no verdict, many give one', () => {
  const runs = (stale: number) => [{ stale, reads: 400 }];
  const stale = (rs: { stale: number; reads: number }[]) =>
    rate(
      rs,
      (r) => r.stale,
      (r) => r.reads,
    );
  // 2 in 400 is 0.5 per 100 +- 0.35; none is 0 +- 0.25 (one event's worth): within the noise.
  assert.equal(bugShows(stale(runs(2)), stale(runs(0))), null);
  assert.equal(bugShows(stale(runs(40)), stale(runs(0))), true);
  assert.equal(bugShows(stale(runs(0)), stale(runs(3))), false);
  assert.equal(show(stale(runs(2)), 2), '0.50 +- 0.35 (counting)');
  // Repeats measure their own spread, which replaces the counting noise.
  assert.equal(show(stale([...runs(2), ...runs(6)]), 2), '1.00 +- 0.50');
  assert.equal(bugShows([5], [4]), true, 'a one-run figure that counts nothing is taken as measured');
  assert.equal(
    show(
      rate(
        [{ stale: 1, reads: 0 }],
        (r) => r.stale,
        (r) => r.reads,
      ),
    ),
    'n/a',
    'no reads: no rate',
  );
});
