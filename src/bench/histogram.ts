// Latencies go into HdrHistograms (microseconds, 3 significant digits) and come out as the
// percentiles every report shows, in milliseconds.
import { build, type Histogram } from 'hdr-histogram-js';
import type { Percentiles } from './results.js';

export function newHistogram(): Histogram {
  // autoResize: a stalled server can make a latency of minutes; it must be recorded, not dropped.
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, autoResize: true });
}

export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
}

export function percentiles(histogram: Histogram): Percentiles {
  if (histogram.totalCount === 0) {
    return { count: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null };
  }
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: histogram.totalCount,
    mean: ms(histogram.mean),
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
  };
}
