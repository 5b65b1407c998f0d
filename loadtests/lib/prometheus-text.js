// Reads the Prometheus text exposition that GET /metrics returns, enough for both engines'
// samplers: name, labels and value of each sample line (HELP/TYPE comments skipped).
// The k6 scripts import it too, so it keeps to what k6 v0.46 parses (see loadtests/README.md).

/**
 * @typedef {object} PromSample
 * @property {string} name
 * @property {Record<string, string>} labels
 * @property {number} value
 */

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;

/**
 * @param {string} text
 * @returns {PromSample[]}
 */
export function parsePrometheusText(text) {
  /** @type {PromSample[]} */
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.charAt(0) === '#') continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const [, name, labelText = '', value] = m;
    if (!name || value === undefined) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    // A fresh regex per line: a shared /g regex keeps lastIndex between calls.
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = label.exec(labelText); l !== null; l = label.exec(labelText)) {
      if (l[1]) labels[l[1]] = (l[2] || '').replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

/**
 * Sum of `name` over the series whose labels include `match`.
 * @param {PromSample[]} samples @param {string} name @param {Record<string, string>} [match]
 */
export function sum(samples, name, match = {}) {
  let total = 0;
  const wanted = Object.keys(match);
  for (const s of samples) {
    if (s.name !== name) continue;
    if (wanted.every((k) => s.labels[k] === match[k])) total += s.value;
  }
  return total;
}

/**
 * `name` summed per value of `label`, e.g. per process or per endpoint.
 * @param {PromSample[]} samples @param {string} name @param {string} label
 * @returns {Record<string, number>}
 */
export function byLabel(samples, name, label) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const s of samples) {
    const key = s.labels[label];
    if (s.name !== name || key === undefined) continue;
    out[key] = (out[key] || 0) + s.value;
  }
  return out;
}
