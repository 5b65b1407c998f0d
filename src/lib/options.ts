// How busbench reads a setting: a table of options, each with its default, environment
// variable, flag and documentation. The CLI builds its flags from the tables and the
// README's tables are generated from them, so a default is written down exactly once.
import { errors } from './errors.js';

export interface Option<T> {
  env: string;
  flag: string;
  doc: string;
  default: T;
  parse: (raw: string, name: string) => T;
}

export type OptionTable = Record<string, Option<unknown>>;
export type Values<T extends OptionTable> = { [K in keyof T]: T[K]['default'] };

export function option<T>(o: Option<T>): Option<T> {
  return o;
}

export function oneOf<const C extends readonly string[]>(choices: C) {
  return (raw: string, name: string): C[number] => {
    if (!choices.includes(raw)) throw errors.config(name, `must be one of ${choices.join(', ')} (got "${raw}")`);
    return raw;
  };
}

export function integer(min: number) {
  return (raw: string, name: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      throw errors.config(name, `must be an integer >= ${min} (got "${raw}")`);
    }
    return value;
  };
}

export function seconds(raw: string, name: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0)
    throw errors.config(name, `must be a number of seconds >= 0 (got "${raw}")`);
  return value;
}

export const text = (raw: string): string => raw;

/** A comma-separated subset of `choices`, in the order given (a sweep dimension). */
export function listOf<const C extends readonly string[]>(choices: C) {
  return (raw: string, name: string): C[number][] => {
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((i) => !choices.includes(i));
    if (items.length === 0 || bad.length > 0) {
      throw errors.config(name, `must list one or more of ${choices.join(', ')} separated by commas (got "${raw}")`);
    }
    return [...new Set(items)];
  };
}

export function perSecond(raw: string, name: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw errors.config(name, `must be a rate per second >= 0 (got "${raw}")`);
  return value;
}

export function fraction(raw: string, name: string): number {
  const value = Number(raw);
  if (!(value >= 0 && value <= 1)) throw errors.config(name, `must be a number from 0 to 1 (got "${raw}")`);
  return value;
}

export function flag(raw: string, name: string): boolean {
  if (['', '1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw errors.config(name, `must be true or false (got "${raw}")`);
}

/** Defaults, overridden by the environment, overridden by flags (already-parsed strings). */
export function loadOptions<T extends OptionTable>(
  table: T,
  flags: Partial<Record<keyof T, string>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Values<T> {
  const config: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(table) as [keyof T & string, Option<unknown>][]) {
    const fromFlag = flags[key];
    const fromEnv = env[o.env];
    if (fromFlag !== undefined) config[key] = o.parse(String(fromFlag), o.flag.split(' ')[0] ?? key);
    else if (fromEnv !== undefined && fromEnv !== '') config[key] = o.parse(fromEnv, o.env);
    else config[key] = o.default;
  }
  return config as Values<T>;
}
