/**
 * Subscriptions indexed by subject token, as nats-server keeps them (its "sublist"): a publish
 * walks the subject's tokens, never the list of subscriptions, so its cost does not grow with
 * the number of tenants, channels or waiting conversations. Matching follows subjectMatches():
 * `*` is one token, `>` one or more remaining tokens (and ends the pattern), anything else that token exactly.
 * Lookups are Maps (a token such as `__proto__` or `constructor` is an ordinary key), and nodes
 * left empty by a removal are pruned, so memory follows the live subscriptions only.
 */

interface Level<T> {
  readonly literal: Map<string, Level<T>>;
  star: Level<T> | undefined;
  /** Entries whose pattern ends at this level. */
  readonly here: Set<Entry<T>>;
  /** Entries whose pattern ends with `>` after this level. */
  readonly rest: Set<Entry<T>>;
}

interface Entry<T> {
  readonly value: T;
  /** Order of insertion: matches come back in it. */
  readonly seq: number;
  readonly tokens: readonly string[];
}

const level = <T>(): Level<T> => ({ literal: new Map(), star: undefined, here: new Set(), rest: new Set() });

export class Sublist<T> {
  readonly #root: Level<T> = level();
  readonly #entries = new Map<T, Entry<T>>();
  #seq = 0;

  get size(): number {
    return this.#entries.size;
  }

  /** Add `value` under `pattern` (a value is in the list at most once). */
  add(pattern: string, value: T): void {
    if (this.#entries.has(value)) throw new Error('already subscribed');
    const all = pattern.split('.');
    // A `>` ends the pattern wherever it is (as in subjectMatches()).
    const gt = all.indexOf('>');
    const tokens = gt < 0 ? all : all.slice(0, gt + 1);
    const entry: Entry<T> = { value, seq: this.#seq++, tokens };
    let at = this.#root;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (t === '>') {
        at.rest.add(entry);
        this.#entries.set(value, entry);
        return;
      }
      at = t === '*' ? (at.star ??= level()) : getOrAdd(at.literal, t);
    }
    at.here.add(entry);
    this.#entries.set(value, entry);
  }

  /** Remove `value`; false if it was not there. */
  remove(value: T): boolean {
    const entry = this.#entries.get(value);
    if (!entry) return false;
    this.#entries.delete(value);
    const path: Array<[Level<T>, string]> = [];
    let at = this.#root;
    const { tokens } = entry;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (t === '>') {
        at.rest.delete(entry);
        break;
      }
      path.push([at, t]);
      at = (t === '*' ? at.star : at.literal.get(t))!;
      if (i === tokens.length - 1) at.here.delete(entry);
    }
    // Prune the levels this entry alone kept, deepest first.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, t] = path[i]!;
      const child = (t === '*' ? parent.star : parent.literal.get(t))!;
      if (child.here.size > 0 || child.rest.size > 0 || child.literal.size > 0 || child.star) break;
      if (t === '*') parent.star = undefined;
      else parent.literal.delete(t);
    }
    return true;
  }

  /** Remove every value. */
  clear(): void {
    this.#entries.clear();
    this.#root.literal.clear();
    this.#root.star = undefined;
    this.#root.here.clear();
    this.#root.rest.clear();
  }

  /** The values whose pattern matches `subject`, in the order they were added. */
  match(subject: string): T[] {
    const tokens = subject.split('.');
    const found: Entry<T>[] = [];
    collect(this.#root, tokens, 0, found);
    if (found.length > 1) found.sort((a, b) => a.seq - b.seq);
    return found.map((e) => e.value);
  }
}

function getOrAdd<T>(map: Map<string, Level<T>>, token: string): Level<T> {
  let next = map.get(token);
  if (!next) map.set(token, (next = level()));
  return next;
}

function collect<T>(at: Level<T>, tokens: readonly string[], i: number, out: Entry<T>[]): void {
  if (i === tokens.length) {
    for (const e of at.here) out.push(e);
    return;
  }
  // `>` needs at least one token left, which there is.
  for (const e of at.rest) out.push(e);
  const lit = at.literal.get(tokens[i]!);
  if (lit) collect(lit, tokens, i + 1, out);
  if (at.star) collect(at.star, tokens, i + 1, out);
}
