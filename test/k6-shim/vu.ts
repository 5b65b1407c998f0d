// One k6 runtime of the emulator, as a child process (every k6 VU is its own JavaScript
// runtime too): imports the script with the k6 modules shimmed, runs one role, sends back
// the result and every metric sample it recorded.
import { current } from './execution.js';
import { samples } from './metrics.js';

interface Job {
  script: string;
  env: Record<string, string>;
  role: 'setup' | 'browsers' | 'sampler' | 'summary';
  data?: unknown;
  vus?: number;
  summary?: unknown;
}

interface Script {
  options: unknown;
  setup(): unknown;
  browser(data: unknown): Promise<void>;
  sampler(data: unknown): void;
  handleSummary(summary: unknown): Record<string, string>;
}

process.once('message', async (job: Job) => {
  Object.assign(globalThis, { __ENV: job.env });
  const script = (await import(job.script)) as Script;
  let result: unknown;
  if (job.role === 'setup') result = { data: script.setup(), options: script.options };
  if (job.role === 'browsers') {
    const vus: Promise<void>[] = [];
    for (let i = 0; i < (job.vus ?? 0); i++) {
      // The script reads its index synchronously, before its first await.
      current.iterationInTest = i;
      vus.push(script.browser(job.data));
    }
    await Promise.all(vus);
  }
  if (job.role === 'sampler') script.sampler(job.data);
  if (job.role === 'summary') result = script.handleSummary(job.summary);
  process.send?.({ result, samples }, () => process.exit(0));
});
