// What a database error means for the request that met it: "a concurrent transaction got in
// the way, try the whole unit again", or "the database is gone for now". Its own module because
// the transaction runner, the pool and Metrics all need it, and none may import another's value.

/** serialization_failure, deadlock_detected, lock_not_available (NOWAIT). */
export const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01', '55P03']);

/**
 * The server ended this connection or cannot be reached: an admin shutdown or restart (57P01,
 * 57P02, 57P03), pg_terminate_backend, a connection failure (class 08), or a socket that broke
 * or was refused. The request cannot succeed on this connection, but a later one may.
 */
export function connectionLost(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (/^57P0[123]$/.test(code) || code.startsWith('08'))) return true;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  const message = err instanceof Error ? err.message : '';
  // pg reports a socket that closed under a query, or a client already broken, in words only.
  return /Connection terminated|connection error and is not queryable/.test(message);
}
