interface Entry<V> {
  readonly key: string;
  value: V;
  older: Entry<V> | undefined;
  newer: Entry<V> | undefined;
}

/**
 * Values by key in order of last use, every operation O(1): a Map for lookup and a linked
 * list for the order. (A Map alone, deleting from its front, makes V8 skip the deleted slots on
 * every walk from the front, which an attacker rotating keys turns into linear work per request.)
 */
export class RecencyList<V> {
  readonly #entries = new Map<string, Entry<V>>();
  #oldest: Entry<V> | undefined;
  #newest: Entry<V> | undefined;

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key)?.value;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Set `key` to `value` and make it the most recently used. */
  touch(key: string, value: V): void {
    let e = this.#entries.get(key);
    if (e) {
      this.#unlink(e);
      e.value = value;
    } else {
      e = { key, value, older: undefined, newer: undefined };
      this.#entries.set(key, e);
    }
    e.older = this.#newest;
    e.newer = undefined;
    if (this.#newest) this.#newest.newer = e;
    this.#newest = e;
    this.#oldest ??= e;
  }

  /** The least recently used entry, if any. */
  oldest(): { key: string; value: V } | undefined {
    return this.#oldest && { key: this.#oldest.key, value: this.#oldest.value };
  }

  delete(key: string): boolean {
    const e = this.#entries.get(key);
    if (!e) return false;
    this.#unlink(e);
    this.#entries.delete(key);
    return true;
  }

  #unlink(e: Entry<V>): void {
    if (e.older) e.older.newer = e.newer;
    else this.#oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.#newest = e.older;
    e.older = e.newer = undefined;
  }
}
