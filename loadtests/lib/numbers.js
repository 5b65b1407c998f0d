// The arithmetic every figure shares, so both engines, the tables and the charts round and
// add up the same way. The k6 scripts import it too (see loadtests/README.md).

/** @param {number} value @param {number} [digits] */
export function round(value, digits = 2) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** @param {number[]} values */
export function total(values) {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * `n` per `per` of `of` (failures per 1,000 commits, connections per tab), rounded. null when
 * `of` is 0: a case that committed nothing has no failure rate, and 0 would read as "no conflicts".
 * @param {number} n @param {number} of @param {number} [per]
 * @returns {number | null}
 */
export function rate(n, of, per = 1) {
  return of > 0 ? round((n / of) * per) : null;
}
