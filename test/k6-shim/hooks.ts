// Module resolution for the k6 emulator: the k6 built-in modules resolve to the shims next
// to this file, everything else as usual.
const SHIMS: Record<string, string> = {
  k6: 'k6.js',
  'k6/http': 'http.js',
  'k6/execution': 'execution.js',
  'k6/metrics': 'metrics.js',
};

type Next = (specifier: string, context: unknown) => Promise<unknown>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<unknown> {
  const shim = SHIMS[specifier];
  if (shim) return { url: new URL(shim, import.meta.url).href, shortCircuit: true };
  return next(specifier, context);
}
