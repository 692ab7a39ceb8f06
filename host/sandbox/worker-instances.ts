/**
 * The instances a worker keeps: per (tenant, env, compiled component), created on first use,
 * dropped after a trap, evicted least recently used past the count, memory and heap budgets. A
 * node of our own world is driven through the lean binding (node-abi.ts) when its core modules
 * allow; everything else through jco's transpiled glue, whose lifting is bounded (glue-bounds.ts).
 */
import { GLUE_BOUNDS_IMPORT } from '../components/glue-bounds.js';
import type { ComponentWorld } from '../components/registry.js';
import { HOST_PACKAGE, HOST_VERSION } from '../capabilities/index.js';
import { greenticAdapter } from '../greentic/adapters.js';
import type { GreenticAbi } from '../greentic/abi.js';
import { GreenticNode } from '../greentic/node-adapter.js';
import { SchemaChecks } from '../greentic/op-schema.js';
import { LeanNode, leanMainModule, type NodeHostFunctions } from './node-abi.js';
import type { GuestFailure } from './protocol.js';
import { glueBounds, ValueLimitError, type ValueBudget } from './value-budget.js';
import { GuestExit, GuestOutput, wasiImports, type GuestLineSink, type GuestStream } from './wasi-sandbox.js';

/**
 * The V8 heap a worker's instances (warm and spare) may take together for what their modules
 * declare (each instance's estimate is at most settings.limits.module.heap_mib, 64 MiB): well
 * inside the worker's 512 MiB heap, whose exhaustion V8 answers by aborting the process.
 */
export const INSTANCE_HEAP_BUDGET = 192 * 1024 * 1024;

type CoreInstantiate = (module: WebAssembly.Module, imports?: Record<string, Record<string, unknown>>) => Promise<{ exports: Record<string, unknown> }>;

interface Glue {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore: CoreInstantiate,
  ): Promise<Record<string, unknown>>;
}

export interface NodeExport {
  invoke(ctx: unknown, input: unknown): unknown;
}

/** A live instance, where its stdout/stderr go, and the memories its core instances export (to measure and attribute OOM). */
export interface Instance {
  readonly node: NodeExport | undefined;
  readonly greentic: GreenticNode | undefined;
  readonly output: GuestOutput;
  readonly memories: WebAssembly.Memory[];
  readonly capBytes: number;
  /** The V8 heap it can take for what its modules declare (estimated at load). */
  readonly heapBytes: number;
}

interface Compiled {
  readonly glueUrl: string;
  readonly world: ComponentWorld;
  /** A Greentic component's ABI, and the version of each Greentic host interface it imports ("greentic:http/http-client" -> "1.1.0"). */
  readonly abi?: GreenticAbi | undefined;
  readonly hostImports?: ReadonlyArray<[string, string]>;
  readonly memoryBytes: number;
  readonly heapBytes: number;
  readonly modules: Map<string, WebAssembly.Module>;
  /** The core module the lean binding drives, if the component allows it. */
  readonly lean: string | undefined;
}

/** What instances call back into: the capability functions of the call running at the time. */
export interface CapabilityHooks {
  /** jco-style import object slices for our capability interfaces, and the Greentic host interfaces at the versions a component imports. */
  jcoImports(hostImports: ReadonlyMap<string, string>): Record<string, unknown>;
  /** The same functions for the lean binding. */
  leanHost(): NodeHostFunctions;
  /** What the running call (or instantiation, between calls) may still hand the host. */
  valueBudget(): ValueBudget;
}

export class WorkerInstances {
  readonly #glues = new Map<string, Promise<Glue>>();
  readonly #compiled = new Map<string, Compiled>();
  readonly #waiting = new Map<string, Array<() => void>>();
  readonly #instances = new Map<string, Instance>();
  /** Fresh instances no call has entered yet, by modules and WASI grants; each goes to the first instance key that needs one. */
  readonly #spares = new Map<string, Promise<Spare>>();
  /** The spares to keep: made again once taken. */
  readonly #wanted = new Map<string, { moduleKey: string; wasi: readonly string[] }>();
  /** Spares taken and not yet made again. */
  readonly #refill = new Set<string>();
  #evicted: string[] = [];
  /** Compiled input-schema checks, shared by the worker's Greentic instances. */
  readonly #schemas = new SchemaChecks();

  constructor(
    private readonly hooks: CapabilityHooks,
    private readonly maxInstances: number,
    private readonly maxBytes: number,
  ) {}

  /** A 'load' message: the compiled modules of one (digest, cap). */
  load(moduleKey: string, c: Omit<Compiled, 'lean'>): void {
    const world = c.world;
    this.#compiled.set(moduleKey, { ...c, lean: world === 'greentic-host-node' ? leanMainModule(c.modules) : undefined });
    for (const wake of this.#waiting.get(moduleKey) ?? []) wake();
    this.#waiting.delete(moduleKey);
  }

  /** Instances dropped since the last call; reported with its result so the main thread knows what is warm. */
  takeEvicted(): string[] {
    const out = this.#evicted;
    this.#evicted = [];
    return out;
  }

  drop(key: string): void {
    this.#instances.delete(key);
  }

  /** The instance for `key`, created if needed; what it writes, from instantiation on, goes to `emit`. */
  async get(moduleKey: string, key: string, wasi: readonly string[], emit: GuestLineSink): Promise<{ instance: Instance; created: boolean }> {
    const have = this.#instances.get(key);
    if (have) {
      this.#instances.delete(key);
      this.#instances.set(key, have);
      return { instance: have, created: false };
    }
    const instance = (await this.#takeSpare(moduleKey, wasi, emit)) ?? (await this.#create(moduleKey, wasi, emit));
    this.#instances.set(key, instance);
    this.evictOverBudget();
    return { instance, created: true };
  }

  /**
   * Make a spare instance of `moduleKey` with `wasi` ahead of need, and again each time one is
   * taken, so a tenant's first call skips instantiation (~13 ms for a JS guest). A spare has
   * run only its own start-up: no call, no tenant's data. It is bound to the first instance key
   * that takes it and never to another.
   */
  prepare(moduleKey: string, wasi: readonly string[]): Promise<unknown> {
    const k = spareKey(moduleKey, wasi);
    this.#wanted.set(k, { moduleKey, wasi });
    const have = this.#spares.get(k);
    if (have) return have.catch(() => undefined);
    // A spare that would not fit the heap budget is not made: the call that needs one instantiates.
    const heap = this.#compiled.get(moduleKey)?.heapBytes ?? 0;
    if (this.#heapInUse() + heap > INSTANCE_HEAP_BUDGET) return Promise.resolve(undefined);
    const held: Array<[GuestStream, string]> = [];
    const spare = this.#create(moduleKey, wasi, (stream, line) => void held.push([stream, line])).then((instance) => ({ instance, held }));
    // A spare that fails to instantiate is dropped; the call that needs one instantiates as usual (and reports why).
    spare.catch(() => {
      if (this.#spares.get(k) === spare) this.#spares.delete(k);
    });
    this.#spares.set(k, spare);
    return spare.catch(() => undefined);
  }

  /** An instance kept by no one (a warm-up call's: it compiles what a first call needs, then it is dropped). */
  detached(moduleKey: string, wasi: readonly string[], emit: GuestLineSink): Promise<Instance> {
    return this.#create(moduleKey, wasi, emit);
  }

  /** Make again the spares calls have taken (called when the worker is idle). */
  refill(): void {
    for (const k of this.#refill) {
      const w = this.#wanted.get(k);
      if (w) void this.prepare(w.moduleKey, w.wasi);
    }
    this.#refill.clear();
  }

  async #takeSpare(moduleKey: string, wasi: readonly string[], emit: GuestLineSink): Promise<Instance | undefined> {
    const k = spareKey(moduleKey, wasi);
    const spare = this.#spares.get(k);
    if (!spare) return undefined;
    this.#spares.delete(k);
    const got = await spare.catch(() => undefined);
    // The next one is made when the worker is idle, not during this call.
    if (this.#wanted.has(k)) this.#refill.add(k);
    if (!got) return undefined;
    // Its start-up output is logged with the first call it serves.
    got.instance.output.begin(emit);
    for (const [stream, line] of got.held) emit(stream, line);
    return got.instance;
  }

  async #create(moduleKey: string, wasi: readonly string[], emit: GuestLineSink): Promise<Instance> {
    // The 'load' message is posted before the call, but may not have been read yet.
    if (!this.#compiled.has(moduleKey)) await new Promise<void>((r) => this.#waiting.set(moduleKey, [...(this.#waiting.get(moduleKey) ?? []), r]));
    const loaded = this.#compiled.get(moduleKey)!;
    const output = new GuestOutput();
    output.begin(emit);
    return loaded.lean ? await this.#lean(loaded, output) : await this.#jco(loaded, output, wasi);
  }

  async #lean(loaded: Compiled, output: GuestOutput): Promise<Instance> {
    const node = await LeanNode.instantiate(
      loaded.modules.get(loaded.lean!)!,
      () => this.hooks.leanHost(),
      () => this.hooks.valueBudget(),
    );
    return { node, greentic: undefined, output, memories: [node.memory], capBytes: loaded.memoryBytes, heapBytes: loaded.heapBytes };
  }

  async #jco(loaded: Compiled, output: GuestOutput, wasi: readonly string[]): Promise<Instance> {
    let glue = this.#glues.get(loaded.glueUrl);
    if (!glue) {
      glue = import(loaded.glueUrl) as Promise<Glue>;
      this.#glues.set(loaded.glueUrl, glue);
      glue.catch(() => this.#glues.delete(loaded.glueUrl));
    }
    const memories: WebAssembly.Memory[] = [];
    const instantiated = new Set<WebAssembly.Module>();
    // Instantiate the core modules ourselves, to see the memories they export, and once each:
    // the limits checked at load count every core module once per instance.
    const instantiateCore: CoreInstantiate = async (module, imports) => {
      if (instantiated.has(module)) throw new Error('it instantiates one of its core modules more than once; this host instantiates each once per instance');
      instantiated.add(module);
      const inst = await WebAssembly.instantiate(module, imports);
      for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) memories.push(v);
      return inst;
    };
    const getCoreModule = (name: string) => {
      const m = loaded.modules.get(name);
      if (!m) throw new Error(`missing core module ${name}`);
      return m;
    };
    const missing: string[] = [];
    const imports = await wasiImports(wasi, output, missing);
    Object.assign(imports, this.hooks.jcoImports(new Map(loaded.hostImports ?? [])));
    imports[GLUE_BOUNDS_IMPORT] = glueBounds(() => this.hooks.valueBudget());
    let exports: Record<string, unknown>;
    try {
      exports = await (await glue).instantiate(getCoreModule, imports, instantiateCore);
    } catch (e) {
      // jco's glue names only the function; say which interface it belongs to.
      if (missing.length > 0) throw new Error(`it imports ${missing.map((m) => m.replace('#', ' function ')).join(', ')}, which this host does not serve`);
      throw e;
    }
    if (loaded.world === 'greentic-component-node' && loaded.abi) {
      const adapter = greenticAdapter(loaded.abi, exports, () => this.hooks.valueBudget());
      return {
        node: undefined,
        greentic: new GreenticNode(adapter, this.#schemas),
        output,
        memories,
        capBytes: loaded.memoryBytes,
        heapBytes: loaded.heapBytes,
      };
    }
    const node = (exports[`${HOST_PACKAGE}/node@${HOST_VERSION}`] ?? exports.node) as NodeExport | undefined;
    if (!node || typeof node.invoke !== 'function') throw new Error('component does not export greentic:host/node');
    return { node, greentic: undefined, output, memories, capBytes: loaded.memoryBytes, heapBytes: loaded.heapBytes };
  }

  memoryOf(instance: Instance): number {
    return instance.memories.reduce((n, m) => n + m.buffer.byteLength, 0);
  }

  /** The heap estimates of the warm instances and the spares, together. */
  #heapInUse(): number {
    let heap = 0;
    for (const i of this.#instances.values()) heap += i.heapBytes;
    for (const k of this.#spares.keys()) heap += this.#compiled.get(this.#wanted.get(k)?.moduleKey ?? '')?.heapBytes ?? 0;
    return heap;
  }

  /** Drop least recently used instances until the count, memory and heap budgets hold (the newest always stays). */
  evictOverBudget(): void {
    let bytes = 0;
    for (const i of this.#instances.values()) bytes += this.memoryOf(i);
    let heap = this.#heapInUse();
    for (const [key, i] of this.#instances) {
      if ((this.#instances.size <= this.maxInstances && bytes <= this.maxBytes && heap <= INSTANCE_HEAP_BUDGET) || this.#instances.size === 1) break;
      bytes -= this.memoryOf(i);
      heap -= i.heapBytes;
      this.#instances.delete(key);
      this.#evicted.push(key);
    }
  }
}

interface Spare {
  readonly instance: Instance;
  /** What it wrote while starting. */
  readonly held: ReadonlyArray<[GuestStream, string]>;
}

function spareKey(moduleKey: string, wasi: readonly string[]): string {
  return `${moduleKey}|${[...wasi].sort().join(',')}`;
}

/**
 * A trap while a memory is within an eighth of its cap (at least 1 MiB) is taken for the guest
 * running out of memory: its `memory.grow` failed against the maximum we wrote into the module,
 * and allocators grow in chunks (SpiderMonkey's run out several MiB before the cap).
 */
function nearCap(instance: Instance): boolean {
  const slack = Math.max(1024 * 1024, instance.capBytes / 8);
  return instance.memories.some((m) => m.buffer.byteLength + slack > instance.capBytes);
}

/** What a thrown value from a call means: the guest's node-error, an exit, or a trap. */
export function classify(e: unknown, instance: Instance): GuestFailure {
  if (e instanceof GuestExit) return { kind: 'exit', status: e.status };
  if (e instanceof ValueLimitError) return { kind: 'limit', message: e.message };
  const payload = typeof e === 'object' && e !== null && Object.hasOwn(e, 'payload') ? (e as { payload: unknown }).payload : e;
  if (typeof payload === 'object' && payload !== null && !(payload instanceof Error)) {
    const p = payload as Record<string, unknown>;
    if (typeof p.code === 'string' && typeof p.message === 'string') {
      return { kind: 'node-error', code: p.code, message: p.message, retryable: p.retryable === true };
    }
  }
  const message = e instanceof Error ? e.message : String(e);
  return { kind: 'trap', message, outOfMemory: nearCap(instance) };
}
