// The arithmetic every figure shares, so the runner, the sampler, the tables and the charts
// round and add up the same way.

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function total(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** `n` per `per` of `of` (failures per 1,000 commits, connections per tab), rounded; 0 when `of` is 0. */
export function rate(n: number, of: number, per = 1): number {
  return of > 0 ? round((n / of) * per) : 0;
}
