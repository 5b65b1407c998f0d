// worker-kill for worker-threads (`busbench bench --faults worker-kill`, issue 13): the bench
// only sees the layout's process, and killing it would end the layout, so the process ends
// one of its request threads on THREAD_KILL_SIGNAL, as a thread crash would. piscina replaces
// a thread that exits; each one lost counts in busbench_worker_restarts_total at once, since
// its replacement may take seconds to open its pool.
import type { Piscina } from 'piscina';
import type { Metrics } from '../../app/metrics.js';

/** SIGUSR1 starts Node's inspector; SIGUSR2 has no meaning of its own in Node. */
export const THREAD_KILL_SIGNAL = 'SIGUSR2';

export function armThreadKill(pool: Piscina, metrics: Metrics): void {
  // Only the pool's own shutdown destroys threads otherwise, after the last scrape.
  pool.on('workerDestroy', () => metrics.workerRestarts.inc());
  process.on(THREAD_KILL_SIGNAL, () => {
    // Parked polls wait in the main thread, so the thread ended may be idle or mid-request
    // (then that one request answers 503 E_THREAD_LOST), as a real thread crash would find it.
    void pool.threads.at(-1)?.terminate();
  });
}
