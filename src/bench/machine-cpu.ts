// How busy the whole machine's CPUs were over a window, from Linux's /proc/stat: a figure that
// counts every process (the server, the runner, PostgreSQL, other jobs on a shared machine),
// where process.cpuUsage and the server's own metrics each count one of them.
import { readFileSync } from 'node:fs';

export interface CpuTimes {
  busy: number;
  total: number;
}

/** The machine's CPU time so far, in clock ticks; null where /proc/stat is not Linux's. */
export function machineCpuTimes(): CpuTimes | null {
  try {
    const line = /^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!line?.[1]) return null;
    const ticks = line[1].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return null;
  }
}

/** The share of the machine's CPU time that was busy between two readings, in percent; null without both. */
export function busyPercent(before: CpuTimes | null, after: CpuTimes | null): number | null {
  if (!before || !after || after.total <= before.total) return null;
  return (100 * (after.busy - before.busy)) / (after.total - before.total);
}
