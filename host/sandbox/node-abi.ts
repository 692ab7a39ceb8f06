/**
 * A lean binding of the `greentic:host/node-component` world: the canonical ABI for exactly
 * our WIT types, written by hand, so a node call does not pay jco's general-purpose glue (task
 * objects, closures, per-call debug hooks). It applies when the component's core modules are
 * one main module importing only our capability interfaces plus jco's own shim and fixup
 * modules; anything else runs through the jco glue. Every pointer the guest hands back is
 * bounds-checked and every string must be valid UTF-8, else the call traps; every string and
 * list is charged to the call's ValueBudget before it is lifted.
 *
 * Layouts (canonical ABI, 32-bit): tenant-ctx is 52 bytes (six strings, team an option);
 * invoke's parameters are the ctx at 0 and the invocation at 52 (96 bytes); its result is a
 * discriminant byte then, at 4, node-output { replies: list<string>, next: next-step } or
 * node-error { code, message, retryable }. Capability results go through a return pointer:
 * a discriminant byte, then the value or the cap-error at 4.
 */
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import type { NodeInvocation, NodeOutput } from './protocol.js';
import type { ValueBudget } from './value-budget.js';

/** The capability functions a node's imports call, with lifted arguments (as jco would pass them). */
export interface NodeHostFunctions {
  secretsGet(ctx: TenantCtx, name: string): string;
  stateGet(ctx: TenantCtx, key: string): string | undefined;
  stateSet(ctx: TenantCtx, key: string, value: string): void;
  stateDelete(ctx: TenantCtx, key: string): boolean;
  stateListKeys(ctx: TenantCtx): string[];
  messagingSend(ctx: TenantCtx, channel: string, text: string): void;
  logWrite(ctx: TenantCtx, level: string, message: string): void;
}

/** The guest broke the canonical ABI (a bad pointer, discriminant or string): the call traps. */
export class AbiTrap extends Error {
  override readonly name = 'AbiTrap';
}

const CAP_ERRORS = ['access-denied', 'not-found', 'invalid-argument', 'limit-exceeded', 'unavailable'];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
const NEXT = ['proceed', 'route', 'wait', 'end'] as const;
const PARAMS_SIZE = 96;
const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

type Realloc = (oldPtr: number, oldSize: number, align: number, newSize: number) => number;

/**
 * The instance's memory and allocator, bound once the main module is instantiated. The views
 * are refreshed whenever guest code may have grown the memory: after realloc, after the export
 * returns, and on entry to every import.
 */
class GuestMemory {
  constructor(readonly budget: () => ValueBudget) {}

  memory: WebAssembly.Memory | undefined;
  realloc: Realloc | undefined;
  #buf: ArrayBuffer | undefined;
  #u8 = new Uint8Array(0);
  #dv = new DataView(new ArrayBuffer(0));

  refresh(): void {
    const buf = this.memory!.buffer;
    if (buf !== this.#buf) {
      this.#buf = buf;
      this.#u8 = new Uint8Array(buf);
      this.#dv = new DataView(buf);
    }
  }

  check(ptr: number, len: number): void {
    if (ptr < 0 || len < 0 || ptr + len > this.#u8.length) throw new AbiTrap(`out-of-bounds pointer ${ptr}+${len} (memory is ${this.#u8.length} bytes)`);
  }

  u8(ptr: number): number {
    this.check(ptr, 1);
    return this.#u8[ptr]!;
  }

  u32(ptr: number): number {
    this.check(ptr, 4);
    return this.#dv.getUint32(ptr, true);
  }

  setU8(ptr: number, v: number): void {
    this.check(ptr, 1);
    this.#u8[ptr] = v;
  }

  setU32(ptr: number, v: number): void {
    this.check(ptr, 4);
    this.#dv.setUint32(ptr, v, true);
  }

  string(ptr: number, len: number): string {
    // Charged first, so a length the guest chose never sizes an allocation past the budget.
    this.budget().bytes(len);
    if (len === 0) return '';
    this.check(ptr, len);
    const u8 = this.#u8;
    // Short ASCII strings (ids, keys) decode faster in JS than through TextDecoder.
    if (len <= 64) {
      let ascii = true;
      for (let i = ptr; i < ptr + len; i++) if (u8[i]! >= 0x80) ascii = false;
      if (ascii) return String.fromCharCode.apply(null, u8.subarray(ptr, ptr + len) as unknown as number[]);
    }
    try {
      return decoder.decode(u8.subarray(ptr, ptr + len));
    } catch {
      throw new AbiTrap('a string from the guest is not valid UTF-8');
    }
  }

  alloc(align: number, size: number): number {
    const ptr = this.realloc!(0, 0, align, size);
    this.refresh();
    this.check(ptr, size);
    return ptr;
  }

  /** Copy `s` into guest memory; returns [ptr, len]. */
  putString(s: string): [number, number] {
    const n = s.length;
    if (n === 0) return [1, 0];
    let ascii = true;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) ascii = false;
    if (ascii) {
      const ptr = this.alloc(1, n);
      const u8 = this.#u8;
      for (let i = 0; i < n; i++) u8[ptr + i] = s.charCodeAt(i);
      return [ptr, n];
    }
    const size = Buffer.byteLength(s, 'utf8');
    const ptr = this.alloc(1, size);
    encoder.encodeInto(s, this.#u8.subarray(ptr, ptr + size));
    return [ptr, size];
  }

  /** Write a string's (ptr, len) at `at`. */
  writeString(at: number, s: string): void {
    const [p, l] = this.putString(s);
    this.setU32(at, p);
    this.setU32(at + 4, l);
  }
}

function ctxFromFlat(m: GuestMemory, f: number[]): TenantCtx {
  const teamTag = f[4]!;
  if (teamTag > 1) throw new AbiTrap('invalid option discriminant in tenant-ctx');
  return {
    tenantId: m.string(f[0]!, f[1]!),
    envId: m.string(f[2]!, f[3]!),
    teamId: teamTag === 1 ? m.string(f[5]!, f[6]!) : undefined,
    sessionId: m.string(f[7]!, f[8]!),
    userId: m.string(f[9]!, f[10]!),
    traceId: m.string(f[11]!, f[12]!),
  };
}

/** A tenant-ctx record stored in memory at `p` (52 bytes). */
function ctxAt(m: GuestMemory, p: number): TenantCtx {
  const f = [
    m.u32(p),
    m.u32(p + 4),
    m.u32(p + 8),
    m.u32(p + 12),
    m.u8(p + 16),
    m.u32(p + 20),
    m.u32(p + 24),
    m.u32(p + 28),
    m.u32(p + 32),
    m.u32(p + 36),
    m.u32(p + 40),
    m.u32(p + 44),
    m.u32(p + 48),
  ];
  return ctxFromFlat(m, f);
}

/**
 * Run a host function and write its `result<T, cap-error>` at `ret`: `ok` writes the value
 * at ret+4; a thrown `{ payload: { tag, val } }` becomes the err case; anything else traps.
 */
function withResult<T>(m: GuestMemory, ret: number, run: () => T, ok: (v: T) => void): void {
  let value: T;
  m.refresh();
  try {
    value = run();
  } catch (e) {
    const payload = typeof e === 'object' && e !== null ? (e as { payload?: { tag?: unknown; val?: unknown } }).payload : undefined;
    const tag = payload ? CAP_ERRORS.indexOf(String(payload.tag)) : -1;
    if (tag < 0 || typeof payload?.val !== 'string') throw e;
    m.setU8(ret, 1);
    m.setU8(ret + 4, tag);
    m.writeString(ret + 8, payload.val);
    return;
  }
  m.setU8(ret, 0);
  ok(value);
}

/** The main module's import object: our capability interfaces, lowered and lifted by hand. */
function importObject(m: GuestMemory, host: () => NodeHostFunctions): Record<string, Record<string, (...a: number[]) => void>> {
  const v = '@0.1.0';
  return {
    [`greentic:host/secrets${v}`]: {
      get: (...a: number[]) =>
        withResult(
          m,
          a[15]!,
          () => host().secretsGet(ctxFromFlat(m, a), m.string(a[13]!, a[14]!)),
          (s) => m.writeString(a[15]! + 4, s),
        ),
    },
    [`greentic:host/state${v}`]: {
      get: (...a: number[]) =>
        withResult(
          m,
          a[15]!,
          () => host().stateGet(ctxFromFlat(m, a), m.string(a[13]!, a[14]!)),
          (s) => {
            m.setU8(a[15]! + 4, s === undefined ? 0 : 1);
            if (s !== undefined) m.writeString(a[15]! + 8, s);
          },
        ),
      set: (params: number, ret: number) =>
        withResult(
          m,
          ret,
          () => host().stateSet(ctxAt(m, params), m.string(m.u32(params + 52), m.u32(params + 56)), m.string(m.u32(params + 60), m.u32(params + 64))),
          () => {},
        ),
      delete: (...a: number[]) =>
        withResult(
          m,
          a[15]!,
          () => host().stateDelete(ctxFromFlat(m, a), m.string(a[13]!, a[14]!)),
          (b) => m.setU8(a[15]! + 4, b ? 1 : 0),
        ),
      'list-keys': (...a: number[]) =>
        withResult(
          m,
          a[13]!,
          () => host().stateListKeys(ctxFromFlat(m, a)),
          (keys) => {
            const list = keys.length === 0 ? 4 : m.alloc(4, keys.length * 8);
            keys.forEach((k, i) => m.writeString(list + i * 8, k));
            m.setU32(a[13]! + 4, list);
            m.setU32(a[13]! + 8, keys.length);
          },
        ),
    },
    [`greentic:host/messaging${v}`]: {
      send: (params: number, ret: number) =>
        withResult(
          m,
          ret,
          () => host().messagingSend(ctxAt(m, params), m.string(m.u32(params + 52), m.u32(params + 56)), m.string(m.u32(params + 60), m.u32(params + 64))),
          () => {},
        ),
    },
    [`greentic:host/log${v}`]: {
      write: (...a: number[]) => {
        m.refresh();
        const level = LEVELS[a[13]!];
        if (level === undefined) throw new AbiTrap('invalid log level discriminant');
        withResult(
          m,
          a[16]!,
          () => host().logWrite(ctxFromFlat(m, a), level, m.string(a[14]!, a[15]!)),
          () => {},
        );
      },
    },
  };
}

/** A node instance driven through the lean binding. */
export class LeanNode {
  private constructor(
    private readonly m: GuestMemory,
    private readonly invokeCore: (params: number) => number,
    private readonly postReturn: ((ret: number) => void) | undefined,
    readonly memory: WebAssembly.Memory,
  ) {}

  /** Instantiate the main core module with our imports; `host()` gives the current call's capability functions. */
  static async instantiate(main: WebAssembly.Module, host: () => NodeHostFunctions, budget: () => ValueBudget): Promise<LeanNode> {
    const m = new GuestMemory(budget);
    const instance = await WebAssembly.instantiate(main, importObject(m, host) as unknown as Record<string, Record<string, unknown>>);
    const ex = instance.exports as Record<string, unknown>;
    const memory = ex.memory as WebAssembly.Memory;
    const realloc = ex.cabi_realloc as Realloc;
    const invoke = ex['greentic:host/node@0.1.0#invoke'] as (p: number) => number;
    if (!(memory instanceof WebAssembly.Memory) || typeof realloc !== 'function' || typeof invoke !== 'function') {
      throw new Error('the main module lacks memory, cabi_realloc or the node invoke export');
    }
    m.memory = memory;
    m.realloc = realloc;
    return new LeanNode(m, invoke, ex['cabi_post_greentic:host/node@0.1.0#invoke'] as ((r: number) => void) | undefined, memory);
  }

  #trapped = false;

  /** One node call: the same contract as jco's `node.invoke` (a guest node-error is thrown as `{ payload }`). */
  invoke(ctx: TenantCtx, input: NodeInvocation): NodeOutput {
    // As with the component model: after a trap the instance may not be entered again.
    if (this.#trapped) throw new AbiTrap('cannot enter component instance (it trapped before)');
    try {
      return this.#invoke(ctx, input);
    } catch (e) {
      if (!(typeof e === 'object' && e !== null && 'payload' in e)) this.#trapped = true;
      throw e;
    }
  }

  #invoke(ctx: TenantCtx, input: NodeInvocation): NodeOutput {
    const m = this.m;
    m.refresh();
    const p = m.alloc(4, PARAMS_SIZE);
    m.writeString(p, ctx.tenantId);
    m.writeString(p + 8, ctx.envId);
    if (ctx.teamId === undefined || ctx.teamId === null) m.setU8(p + 16, 0);
    else {
      m.setU8(p + 16, 1);
      m.writeString(p + 20, ctx.teamId);
    }
    m.writeString(p + 28, ctx.sessionId);
    m.writeString(p + 36, ctx.userId);
    m.writeString(p + 44, ctx.traceId);
    m.writeString(p + 52, input.nodeId);
    m.writeString(p + 60, input.message.text);
    m.writeString(p + 68, input.message.userId);
    m.writeString(p + 76, input.message.channel);
    m.writeString(p + 84, input.config);
    m.setU8(p + 92, input.resumed ? 1 : 0);
    const ret = this.invokeCore(p);
    m.refresh();
    let result: NodeOutput | undefined;
    let error: { code: string; message: string; retryable: boolean } | undefined;
    const disc = m.u8(ret);
    if (disc === 0) {
      const list = m.u32(ret + 4);
      const n = m.u32(ret + 8);
      m.budget().items(n);
      m.check(list, n * 8);
      const replies: string[] = [];
      for (let i = 0; i < n; i++) replies.push(m.string(m.u32(list + i * 8), m.u32(list + i * 8 + 4)));
      const tag = NEXT[m.u8(ret + 12)];
      if (tag === undefined) throw new AbiTrap('invalid next-step discriminant');
      result = { replies, next: tag === 'route' ? { tag, val: m.string(m.u32(ret + 16), m.u32(ret + 20)) } : { tag } };
    } else if (disc === 1) {
      const retryable = m.u8(ret + 20);
      if (retryable > 1) throw new AbiTrap('invalid bool');
      error = { code: m.string(m.u32(ret + 4), m.u32(ret + 8)), message: m.string(m.u32(ret + 12), m.u32(ret + 16)), retryable: retryable === 1 };
    } else {
      throw new AbiTrap('invalid result discriminant');
    }
    this.postReturn?.(ret);
    if (error) throw { payload: error };
    return result!;
  }
}

/** The core module names an import of our node world may use. */
export const LEAN_IMPORTS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['greentic:host/secrets@0.1.0', new Set(['get'])],
  ['greentic:host/state@0.1.0', new Set(['get', 'set', 'delete', 'list-keys'])],
  ['greentic:host/messaging@0.1.0', new Set(['send'])],
  ['greentic:host/log@0.1.0', new Set(['write'])],
]);

/**
 * The core module the lean binding can drive, if the component is shaped for it: one module
 * exporting the node invoke (with memory and cabi_realloc) whose imports are all ours, and any
 * others being jco's shim/fixup modules (importing nothing but "actual"/"shim").
 */
export function leanMainModule(modules: ReadonlyMap<string, WebAssembly.Module>): string | undefined {
  let main: string | undefined;
  for (const [name, mod] of modules) {
    const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
    const imports = WebAssembly.Module.imports(mod);
    if (exports.has('greentic:host/node@0.1.0#invoke')) {
      if (main !== undefined || !exports.has('memory') || !exports.has('cabi_realloc')) return undefined;
      if (!imports.every((i) => i.kind === 'function' && LEAN_IMPORTS.get(i.module)?.has(i.name))) return undefined;
      main = name;
    } else if (!imports.every((i) => i.module === 'actual' || i.module === 'shim')) {
      return undefined;
    }
  }
  return main;
}
