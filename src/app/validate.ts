// Input checks that name the offending field. They run before any write, so bad input
// changes nothing.
import { errors } from '../lib/errors.js';

export type Json = Record<string, unknown>;

export function parseJsonObject(body: string): Json {
  if (body.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw errors.badJson((err as Error).message);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw errors.badInput('body', 'must be a JSON object');
  return value as Json;
}

export function integerField(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw errors.badInput(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function stringField(value: unknown, field: string, minLength: number, maxLength: number): string {
  if (typeof value !== 'string' || value.length < minLength || value.length > maxLength) {
    throw errors.badInput(field, `must be a string of ${minLength} to ${maxLength} characters`);
  }
  return value;
}

export function oneOfField<const C extends readonly string[]>(value: unknown, field: string, choices: C): C[number] {
  if (typeof value !== 'string' || !choices.includes(value))
    throw errors.badInput(field, `must be one of ${choices.join(', ')}`);
  return value;
}

/** A path or query parameter that must be a positive integer id. */
export function idParam(raw: string | null | undefined, field: string): number {
  const value = Number(raw);
  if (!raw || !/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw errors.badInput(field, 'must be a positive integer id');
  }
  return value;
}
