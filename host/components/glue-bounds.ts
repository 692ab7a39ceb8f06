/**
 * Bound what jco's transpiled glue takes from a guest. The glue lifts a guest's strings and
 * lists into JS values by pointers and lengths the guest chose: a `list<string>` of a million
 * entries, each pointing at the same 64 MiB of memory, would decode 64 TiB of strings in the
 * worker, and V8 answers a worker heap that cannot grow by aborting the whole process. So when a
 * component is transpiled, every place its glue lifts a string, a byte list or a list of records,
 * and every resource handle it creates, is routed through `GlueBounds`, which the worker
 * supplies with each instance (under GLUE_BOUNDS_IMPORT) and charges to the running call's budget
 * (host/sandbox/value-budget.ts). The rewrite knows jco-transpile 0.15's output; glue with
 * lifting code it does not know is refused rather than run unbounded.
 */

/** Bumped whenever the rewrite changes: part of the transpile cache's name. */
export const GLUE_BOUNDS_REVISION = 'bounds1';

/** The key under which the rewritten glue finds its bounds in the import object: not a WIT name, so no component can import it. */
export const GLUE_BOUNDS_IMPORT = '@greentic-host/glue-bounds';

/** A view of guest memory the glue decodes a string from. */
export type GuestView = Uint8Array | Uint16Array | DataView;

/** What the rewritten glue calls instead of lifting on its own. */
export interface GlueBounds {
  /** Decode a string the guest hands over (as jco does: invalid UTF-8 becomes U+FFFD). */
  text(view: GuestView): string;
  /** The same for a component that passes strings as UTF-16. */
  text16(view: GuestView): string;
  /** Copy a list of numbers out of guest memory. */
  slice(buffer: ArrayBuffer, start: number, end: number): ArrayBuffer;
  /** A list of `n` elements is about to be lifted. */
  items(n: number): number;
  /** jco's rscTableCreateOwn, with a bound on live handles. */
  createOwn(table: number[], rep: number, flag: number): number;
}

/** Glue this host cannot bound; the message says what it found. */
export class GlueBoundsError extends Error {
  override readonly name = 'GlueBoundsError';
}

const INSTANTIATE = 'export function instantiate(getCoreModule, imports, instantiateCore = WebAssembly.instantiate) {';

const CREATE_OWN = `function rscTableCreateOwn(table, rep) {
    const free = table[0] & ~T_FLAG;
    table._createdReps.add(rep);
    if (free === 0) {
      table.push(0);
      table.push(rep | T_FLAG);
      return (table.length >> 1) - 1;
    }
    table[0] = table[free << 1];
    table[free << 1] = 0;
    table[(free << 1) + 1] = rep | T_FLAG;
    return free;
  }`;

/** Rewrite transpiled glue so that everything it lifts is charged to GlueBounds; throws GlueBoundsError if it cannot. */
export function boundGlue(glue: string): string {
  if (!glue.includes(INSTANTIATE)) throw new GlueBoundsError(`the transpiled glue has no "${INSTANTIATE}"; this host cannot bound it`);
  let out = glue.replace(INSTANTIATE, `${INSTANTIATE}\n  const $bounds = imports[${JSON.stringify(GLUE_BOUNDS_IMPORT)}];`);
  out = out.replace(/\bTEXT_DECODER_UTF8\.decode\(/g, '$bounds.text(');
  out = out.replace(/\butf16Decoder\.decode\(/g, '$bounds.text16(');
  out = out.replace(/\b(memory\d+)\.buffer\.slice\(/g, '$bounds.slice($1.buffer, ');
  out = out.replace(/for \((let|var) i = 0; i < (len\d*); i\+\+\) \{/g, 'for ($1 i = $bounds.items($2); i < $2; i++) {');
  if (out.includes('function rscTableCreateOwn(')) {
    // Also drops jco's _createdReps, a Set every handle ever created is added to and none removed from.
    if (!out.includes(CREATE_OWN))
      throw new GlueBoundsError('the transpiled glue creates resource handles in a way this host does not know; it cannot bound them');
    out = out.replace(CREATE_OWN, 'function rscTableCreateOwn(table, rep) {\n    return $bounds.createOwn(table, rep, T_FLAG);\n  }');
  }
  const unbounded = unboundedLift(out);
  if (unbounded) throw new GlueBoundsError(`the transpiled glue lifts guest values in a way this host does not know (${unbounded}); it cannot bound them`);
  return out;
}

/** Lifting code left after the rewrite: a decoder, a view or a copy of guest memory not routed through $bounds. */
function unboundedLift(glue: string): string | undefined {
  const decode = /\w+\.decode\(/.exec(glue.replace(/\$bounds\.text(16)?\(/g, ''));
  if (decode) return decode[0];
  if (/\bmemory\d+\.buffer\.slice\(/.test(glue)) return 'memory.buffer.slice';
  const loop = /for \((let|var) \w+ = 0; \w+ < len\d*;/.exec(glue);
  if (loop) return loop[0];
  if (/_createdReps\.add\(/.test(glue)) return '_createdReps';
  return undefined;
}
