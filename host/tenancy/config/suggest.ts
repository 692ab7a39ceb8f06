/**
 * "Did you mean" for misspelt names (nodes, flows, components): the closest candidate by edit
 * distance (insertions, deletions, substitutions and swaps of neighbours), offered only when it
 * is close: at most one edit per three characters of the name, and never all of it.
 */

/** Longest name compared (ids are at most 63 characters; anything longer is not a typo of one). */
const MAX_LENGTH = 64;

/** The edit distance between `a` and `b` (optimal string alignment), or Infinity past `limit`. */
export function editDistance(a: string, b: string, limit = MAX_LENGTH): number {
  if (Math.abs(a.length - b.length) > limit) return Infinity;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > limit) return Infinity;
    prev2 = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** The candidate `name` is most likely a misspelling of, or undefined when none is close. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length === 0 || name.length > MAX_LENGTH) return undefined;
  const limit = Math.max(1, Math.floor(name.length / 3));
  let found: string | undefined;
  let best = Infinity;
  for (const c of candidates) {
    if (c === name || c.length > MAX_LENGTH) continue;
    const d = editDistance(name, c, limit);
    // Ties go to the first candidate in sorted order, so the hint does not depend on file order.
    if (d <= limit && d < name.length && (d < best || (d === best && found !== undefined && c < found))) {
      best = d;
      found = c;
    }
  }
  return found;
}

/** ` (did you mean "x"?)` for a misspelt `name`, or '' when no candidate is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const near = closest(name, candidates);
  return near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`;
}
