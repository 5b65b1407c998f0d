// Which SQLSTATEs mean "a concurrent transaction got in the way, try the whole unit again".
// Its own module because both the transaction runner (to retry) and Metrics (to start every
// failure series at 0) need it, and neither may import the other's value.

/** serialization_failure, deadlock_detected, lock_not_available (NOWAIT). */
export const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01', '55P03']);
