// The load generator's own load, so a saturated generator is caught instead of measured: the
// Node runner's CPU and event-loop delay over the measured window (it shares the machine with
// the layout), and for k6 the CPU of the k6 process over its life, read from /proc.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { round } from '../../loadtests/lib/numbers.js';
import type { GeneratorFigures } from './results.js';

/** 10 ms: fine enough for a lag worth a warning, cheap enough to leave on for a whole window. */
const LAG_RESOLUTION_MS = 10;

export interface GeneratorWatch {
  stop(): GeneratorFigures;
}

/** Watches this process (the Node runner and sampler) from now until stop(). */
export function watchThisProcess(): GeneratorWatch {
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  return {
    stop() {
      lag.disable();
      const cpu = process.cpuUsage(cpuStart);
      const wallMs = performance.now() - wallStart;
      const cpuMs = (cpu.user + cpu.system) / 1000;
      return {
        process: 'node runner (this bench process)',
        window: 'measure',
        cores: 1,
        cpu_percent: wallMs > 0 ? round((cpuMs / wallMs) * 100) : null,
        // The histogram is in nanoseconds; a window with no sample reads NaN or 0.
        event_loop_lag_p99_ms: lag.count > 0 ? round(lag.percentile(99) / 1e6) : null,
        event_loop_lag_max_ms: lag.count > 0 ? round(lag.max / 1e6) : null,
      };
    },
  };
}

function clockTicks(): number {
  const found = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(found.stdout?.trim());
  // 100 is Linux's USER_HZ on every common architecture.
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
}

/** utime + stime of a process in clock ticks; null where there is no /proc or the process is gone. */
function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/**
 * Watches a child process (k6) until stop(). /proc is read each second, as the last reading
 * before the process exits is the closest one can get: an exited process has no /proc entry.
 */
export function watchChildProcess(pid: number, cores: number): GeneratorWatch {
  const ticksPerSecond = clockTicks();
  const first = cpuTicks(pid);
  const wallStart = performance.now();
  let last = { ticks: first, at: wallStart };
  const timer = setInterval(() => {
    const ticks = cpuTicks(pid);
    if (ticks !== null) last = { ticks, at: performance.now() };
  }, 1000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const wallMs = last.at - wallStart;
      const measurable = first !== null && last.ticks !== null && wallMs > 0;
      return {
        process: 'k6',
        window: 'run',
        cores,
        cpu_percent: measurable ? round(((((last.ticks ?? 0) - first) / ticksPerSecond) * 1e5) / wallMs) : null,
        event_loop_lag_p99_ms: null,
        event_loop_lag_max_ms: null,
      };
    },
  };
}
