// What k6 has but @types/k6 does not declare globally: setTimeout (global from k6 v0.50,
// absent before) and the init context's CommonJS require.
declare var setTimeout: ((callback: () => void, ms: number) => unknown) | undefined;
declare function require(id: string): { setTimeout: (callback: () => void, ms: number) => unknown };
declare var console: {
  log(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
