// The two primitives of Odoo's web client (seed 001) that keep a tab's state consistent
// whatever order the server's answers come back in. No DOM here: Node's tests import it.

/**
 * Runs state-changing actions one after another, in call order: an action starts only when
 * the previous one has settled, so a post never overtakes an earlier post.
 */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  exec<T>(action: () => Promise<T> | T): Promise<T> {
    const run = this.#tail.then(action);
    // A failed action is its caller's to handle; it must not stop the queue.
    this.#tail = run.catch(() => undefined);
    return run;
  }
}

/** What an older load resolves to once a newer one was added: its result must not be applied. */
export const SUPERSEDED: unique symbol = Symbol('superseded');

/**
 * Of competing loads (the messages of channel A, then of channel B), only the latest is
 * applied: an older one resolves to SUPERSEDED even when its answer comes last, so a quick
 * channel switch never shows the previous channel.
 */
export class KeepLast {
  #latest = 0;

  async add<T>(load: () => Promise<T>): Promise<T | typeof SUPERSEDED> {
    const id = ++this.#latest;
    try {
      const value = await load();
      return id === this.#latest ? value : SUPERSEDED;
    } catch (err) {
      // An older load's failure is as stale as its success would be.
      if (id === this.#latest) throw err;
      return SUPERSEDED;
    }
  }
}

/**
 * Stand-ins that turn a primitive off, for seed 001's experiment only (the page's ?keeplast=off
 * and ?mutex=off): every load is applied as its answer arrives, and every action starts at once.
 */
export const WITHOUT_KEEP_LAST: Pick<KeepLast, 'add'> = { add: (load) => load() };
export const WITHOUT_MUTEX: Pick<Mutex, 'exec'> = { exec: async (action) => action() };
