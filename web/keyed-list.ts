// Keyed updates of a list element: a row is created once for its key and then only updated
// or moved, never rebuilt, so the element under the user's pointer, the focused button and a
// text selection survive whatever arrives.

export class KeyedList<K, Row extends HTMLElement> {
  readonly #list: HTMLElement;
  readonly #rows = new Map<K, Row>();
  readonly #create: (key: K) => Row;

  constructor(list: HTMLElement, create: (key: K) => Row) {
    this.#list = list;
    this.#create = create;
  }

  get keys(): K[] {
    return [...this.#rows.keys()];
  }

  row(key: K): Row | undefined {
    return this.#rows.get(key);
  }

  /** Makes the list's rows those of `keys`, in that order; returns the keys whose rows were created. */
  set(keys: readonly K[]): K[] {
    const wanted = new Set(keys);
    for (const [key, row] of this.#rows) {
      if (wanted.has(key)) continue;
      row.remove();
      this.#rows.delete(key);
    }
    const created: K[] = [];
    let next = this.#list.firstElementChild;
    for (const key of keys) {
      let row = this.#rows.get(key);
      if (!row) {
        row = this.#create(key);
        this.#rows.set(key, row);
        created.push(key);
      }
      if (row === next) next = row.nextElementSibling;
      else this.#list.insertBefore(row, next);
    }
    return created;
  }

  clear(): void {
    this.#rows.clear();
    this.#list.replaceChildren();
  }
}
