// Input checks that name the offending field. They run before any write, so bad input
// changes nothing.
import { errors } from '../lib/errors.js';

export type Json = Record<string, unknown>;

/**
 * The largest id a request may name. Every id column and foreign key is a 32-bit `integer`
 * (migrations/001_init.sql), so a larger value would fail in PostgreSQL (22003) instead of
 * being answered as a bad field. bus_notifications.id is a bigserial: `last` is not an id here.
 */
export const MAX_ID = 2 ** 31 - 1;

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
  // Refused here so a client mistake is a 400 naming the field, not PostgreSQL's 22021 as a 500.
  if (value.includes('\u0000')) {
    throw errors.badInput(
      field,
      'must not contain the NUL character \\u0000, which PostgreSQL text cannot store; remove it',
    );
  }
  return value;
}

export function oneOfField<const C extends readonly string[]>(value: unknown, field: string, choices: C): C[number] {
  if (typeof value !== 'string' || !choices.includes(value))
    throw errors.badInput(field, `must be one of ${choices.join(', ')}`);
  return value;
}

/** A path or query parameter that must be an id of a row (1 to MAX_ID). */
export function idParam(raw: string | null | undefined, field: string): number {
  const value = Number(raw);
  if (!raw || !/^\d+$/.test(raw) || value < 1 || value > MAX_ID) {
    throw errors.badInput(field, `must be an integer id from 1 to ${MAX_ID}`);
  }
  return value;
}
