// Runs a loadtests/<profile>.js the way k6 does, closely enough that CI machines, where k6
// cannot be installed, still execute the k6 engine's own code against a real layout: init
// and setup, the browsers scenario's VUs (async, in one runtime), the sampler's VU (it blocks
// like k6's sleep, so it gets its own), then handleSummary with a summary shaped like k6's.
// What it does not emulate: k6's HTTP client (fetch here) and its exact percentile method.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Sample } from './k6-shim/metrics.js';

const VU = fileURLToPath(new URL('./k6-shim/vu.js', import.meta.url));
const HOOKS = new URL('./k6-shim/hooks.js', import.meta.url).href;
const REGISTER = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(HOOKS)});`;

interface Options {
  scenarios: { browsers: { vus: number } };
  thresholds: Record<string, string[]>;
}

function runtime<T>(job: Record<string, unknown>): Promise<{ result: T; samples: Sample[] }> {
  const child = fork(VU, [], { execArgv: ['--import', REGISTER], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as { result: T; samples: Sample[] }));
    child.once('exit', (code) => reject(new Error(`k6 emulator runtime (${String(job.role)}) exited with ${code}`)));
    child.send(job);
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

/** k6's summary values per metric type. */
function aggregate(samples: Sample[], seconds: number) {
  const byName = new Map<string, Sample[]>();
  for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const metrics: Record<
    string,
    { type: string; values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }
  > = {};
  for (const [name, list] of byName) {
    const values = list.map((s) => s.value);
    const total = values.reduce((a, b) => a + b, 0);
    const kind = list[0]?.kind ?? 'counter';
    if (kind === 'counter') metrics[name] = { type: kind, values: { count: total, rate: total / seconds } };
    if (kind === 'gauge') {
      metrics[name] = {
        type: kind,
        values: { value: values.at(-1) ?? 0, min: Math.min(...values), max: Math.max(...values) },
      };
    }
    if (kind === 'rate') {
      const passes = values.filter((v) => v !== 0).length;
      metrics[name] = { type: kind, values: { rate: passes / values.length, passes, fails: values.length - passes } };
    }
    if (kind === 'trend') {
      const sorted = [...values].sort((a, b) => a - b);
      metrics[name] = {
        type: kind,
        values: {
          count: sorted.length,
          avg: total / sorted.length,
          min: sorted[0] ?? 0,
          med: percentile(sorted, 50),
          max: sorted.at(-1) ?? 0,
          'p(90)': percentile(sorted, 90),
          'p(99)': percentile(sorted, 99),
          'p(99.9)': percentile(sorted, 99.9),
        },
      };
    }
  }
  return metrics;
}

/** The two threshold forms the scripts use: `count==N` and `rate<X`. */
function passes(expression: string, values: Record<string, number>): boolean {
  const m = /^(count|rate)\s*(==|<)\s*([\d.]+)$/.exec(expression);
  if (!m?.[1] || !m[3]) throw new Error(`the emulator does not evaluate threshold "${expression}"`);
  const v = values[m[1]] ?? 0;
  return m[2] === '==' ? v === Number(m[3]) : v < Number(m[3]);
}

export async function runK6Script(script: string, env: Record<string, string>) {
  const started = Date.now();
  const setup = await runtime<{ data: unknown; options: Options }>({ script, env, role: 'setup' });
  const { data, options } = setup.result;
  const [browsers, sampler] = await Promise.all([
    runtime({ script, env, role: 'browsers', data, vus: options.scenarios.browsers.vus }),
    runtime({ script, env, role: 'sampler', data }),
  ]);
  const metrics = aggregate([...setup.samples, ...browsers.samples, ...sampler.samples], (Date.now() - started) / 1000);
  let thresholdsOk = true;
  for (const [name, expressions] of Object.entries(options.thresholds)) {
    const values = metrics[name]?.values ?? { count: 0, rate: 0 };
    const results = Object.fromEntries(expressions.map((e) => [e, { ok: passes(e, values) }]));
    metrics[name] = { type: metrics[name]?.type ?? 'counter', values, thresholds: results };
    thresholdsOk &&= Object.values(results).every((r) => r.ok);
  }
  const summary = { metrics, setup_data: data, state: { testRunDurationMs: Date.now() - started } };
  const files = await runtime<Record<string, string>>({ script, env, role: 'summary', summary });
  return { files: files.result, thresholdsOk };
}
