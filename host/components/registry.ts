import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { transpileBytes } from '@bytecodealliance/jco-transpile';
import { greenticAbiOf, type GreenticAbi } from '../greentic/abi.js';
import { DEFAULT_MODULE_LIMITS, type ModuleLimits } from '../tenancy/model.js';
import { componentImportNames, ComponentImportsError } from './component-imports.js';
import { ModuleRefusal, readCoreModule } from './core-module.js';
import { boundGlue, GLUE_BOUNDS_REVISION, GlueBoundsError } from './glue-bounds.js';
import { addFootprint, emptyFootprint, footprintRefusal, instanceHeapBytes, type ComponentFootprint } from './module-limits.js';
import { WasmFormatError } from './wasm-reader.js';

/** The transpiler's version is part of every cache key: new glue means a new transpile. */
export const JCO_TRANSPILE_VERSION: string = packageVersion(fileURLToPath(import.meta.resolve('@bytecodealliance/jco-transpile')));

/** The version in the nearest package.json above `file`. */
function packageVersion(file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

/**
 * Which contract a component exports, recognised from its exports: our greentic:host/node, or
 * one of Greentic's ABIs (run through its adapter in host/greentic/; `abi` says which).
 */
export type ComponentWorld = 'greentic-host-node' | 'greentic-component-node' | 'unknown';

/** A component whose glue is transpiled and on disk; compile it with ComponentRegistry.compile. */
export interface LoadedComponent {
  /** sha256 of the component bytes, hex. */
  readonly digest: string;
  readonly size: number;
  /** File URL of the transpiled ES module exporting `instantiate`. */
  readonly glueUrl: string;
  /** The transpiled files' directory. */
  readonly dir: string;
  /** Core module file names, in the order the glue asks for them. */
  readonly coreModules: readonly string[];
  /** WIT interfaces whose functions the component imports, unversioned ("greentic:host/state", "wasi:cli/environment"). */
  readonly imports: readonly string[];
  /** Every import as the component names it, versions included, type-only ones too ("wasi:io/streams@0.2.6"). */
  readonly versionedImports: readonly string[];
  /** Exported interfaces, versioned when the WIT is ("greentic:host/node@0.1.0"). */
  readonly exports: readonly string[];
  readonly world: ComponentWorld;
  /** A Greentic component's ABI (greentic/abi.ts). */
  readonly abi: GreenticAbi | undefined;
  /** True when this load ran the transpiler (a cache miss). */
  readonly transpiled: boolean;
}

/** A component's core modules compiled under one memory and table cap: what a worker instantiates. */
export interface CompiledComponent {
  readonly component: LoadedComponent;
  /** Identifies this (digest, caps) triple: workers cache modules and instances under it. */
  readonly key: string;
  readonly memoryBytes: number;
  /** The maximum written into every table (a sandbox process re-reads and recaps the modules with it). */
  readonly tableElements: number;
  /** Core module file name -> compiled module; posted to workers, never recompiled there. */
  readonly modules: ReadonlyMap<string, WebAssembly.Module>;
  /** What its core modules declare, summed. */
  readonly footprint: ComponentFootprint;
  /** The V8 heap one instance can take for what its modules declare (module-limits.ts); workers budget warm instances by it. */
  readonly heapBytes: number;
}

/** Who a compile is for: the component's name in refusals, and the tenant's module limits. */
export interface CompileOptions {
  readonly name?: string;
  readonly limits?: ModuleLimits;
}

/** The largest component file any tenant may load (settings.limits.module.bytes at its maximum). */
export const MAX_COMPONENT_BYTES = 1024 * 1024 * 1024;

/** Core modules read, capped and counted, not yet compiled. */
interface ReadComponent {
  readonly footprint: ComponentFootprint;
  compiled?: Promise<CompiledComponent>;
  bytes?: Map<string, Uint8Array>;
}

/** A component that cannot be loaded; says which file and why. */
export class ComponentLoadError extends Error {
  override readonly name = 'ComponentLoadError';
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
  }
}

interface CacheMeta {
  imports: string[];
  exports: string[];
  files: string[];
}

/** sha256 hex of `bytes`. */
export function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Component bytes -> digest -> transpiled glue (disk cache keyed by digest and transpiler
 * version, so a restart does not transpile again) -> compiled core modules (memory, once per digest).
 */
export class ComponentRegistry {
  readonly #cacheDir: string;
  readonly #loading = new Map<string, Promise<LoadedComponent>>();
  readonly #read = new Map<string, Promise<ReadComponent>>();

  constructor(cacheDir: string) {
    // The glue is rewritten to bound what it lifts (glue-bounds.ts): a new rewrite means a new transpile.
    this.#cacheDir = join(cacheDir, `jco-transpile-${JCO_TRANSPILE_VERSION}-${GLUE_BOUNDS_REVISION}`);
  }

  /** Where the transpiled glue for `digest` lives. */
  dirFor(digest: string): string {
    return join(this.#cacheDir, digest);
  }

  /**
   * Load a component file; if `expectedDigest` is given the bytes must match it. A file larger
   * than `maxBytes` is refused before it is read (the tenant's module.bytes; every limit is
   * checked again, per environment, by `compile`).
   */
  async loadFile(path: string, expectedDigest?: string, maxBytes = MAX_COMPONENT_BYTES): Promise<LoadedComponent> {
    let bytes: Uint8Array;
    try {
      const size = (await stat(path)).size;
      if (size > maxBytes)
        throw new ComponentLoadError(path, `the component is ${size} bytes, more than the ${maxBytes} allowed (settings.limits.module.bytes)`);
      bytes = await readFile(path);
    } catch (e) {
      if (e instanceof ComponentLoadError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new ComponentLoadError(path, code === 'ENOENT' ? 'file not found' : `cannot read (${code})`);
    }
    return this.loadBytes(bytes, path, expectedDigest);
  }

  /** Load component bytes; `source` names them in errors. */
  async loadBytes(bytes: Uint8Array, source: string, expectedDigest?: string): Promise<LoadedComponent> {
    const digest = digestOf(bytes);
    if (expectedDigest !== undefined && expectedDigest !== digest) {
      throw new ComponentLoadError(source, `sha256 is ${digest} but the manifest pins ${expectedDigest}`);
    }
    const pending = this.#loading.get(digest);
    // Only the first load of a digest can have transpiled it; later ones share its result.
    if (pending) return pending.then((c) => (c.transpiled ? { ...c, transpiled: false } : c));
    const loading = this.#load(bytes, digest, source);
    this.#loading.set(digest, loading);
    loading.catch(() => this.#loading.delete(digest));
    return loading;
  }

  async #load(bytes: Uint8Array, digest: string, source: string): Promise<LoadedComponent> {
    checkComponentHeader(bytes, source);
    let versionedImports: string[];
    try {
      versionedImports = componentImportNames(bytes);
    } catch (e) {
      if (e instanceof ComponentImportsError) throw new ComponentLoadError(source, `not a valid component: ${e.message}`);
      throw e;
    }
    const dir = this.dirFor(digest);
    let meta = await readMeta(dir);
    let transpiled = false;
    if (!meta) {
      meta = await this.#transpile(bytes, digest, source);
      transpiled = true;
    }
    return {
      digest,
      size: bytes.byteLength,
      glueUrl: pathToFileURL(join(dir, 'component.js')).href,
      dir,
      coreModules: meta.files.filter((f) => f.endsWith('.wasm')),
      imports: meta.imports,
      versionedImports,
      exports: meta.exports,
      world: recogniseWorld(meta.exports),
      abi: greenticAbiOf(meta.exports),
      transpiled,
    };
  }

  /**
   * Compile a component's core modules with every memory they define capped at `memoryMib` and
   * every table at the tenant's `table_elements` (once per digest and caps), after checking what
   * they declare against the tenant's module limits. A component over a limit, or one that needs
   * more memory or table at start than its cap, is refused before anything is compiled.
   */
  async compile(component: LoadedComponent, memoryMib: number, source = component.glueUrl, options: CompileOptions = {}): Promise<CompiledComponent> {
    const limits = options.limits ?? DEFAULT_MODULE_LIMITS;
    const name = options.name ?? 'component';
    const refuse = (message: string) => new ComponentLoadError(source, `component "${name}"${message}`);
    const early = footprintRefusal(emptyFootprint(component.size, component.coreModules.length), limits);
    if (early) throw refuse(` ${early}`);
    const key = `${component.digest}@${memoryMib}@${limits.tableElements}`;
    let pending = this.#read.get(key);
    if (!pending) {
      pending = this.#readModules(component, memoryMib * 1024 * 1024, limits.tableElements);
      this.#read.set(key, pending);
      pending.catch(() => this.#read.delete(key));
    }
    let read: ReadComponent;
    try {
      read = await pending;
    } catch (e) {
      if (e instanceof ModuleFileError) throw refuse(`: core module ${e.file}${/^(declares|uses) /.test(e.message) ? ' ' : ': '}${e.message}`);
      throw e;
    }
    const over = footprintRefusal(read.footprint, limits);
    if (over) throw refuse(` ${over}`);
    read.compiled ??= this.#compileModules(component, read, memoryMib * 1024 * 1024, limits.tableElements, key, refuse);
    return read.compiled;
  }

  async #readModules(component: LoadedComponent, memoryBytes: number, tableElements: number): Promise<ReadComponent> {
    const footprint = emptyFootprint(component.size, component.coreModules.length);
    const bytes = new Map<string, Uint8Array>();
    const caps = { memoryPages: Math.max(1, Math.floor(memoryBytes / 65536)), tableElements };
    for (const file of component.coreModules) {
      try {
        const read = readCoreModule(await readFile(join(component.dir, file)), caps);
        addFootprint(footprint, read.footprint);
        bytes.set(file, read.bytes);
      } catch (e) {
        if (e instanceof ModuleRefusal) throw new ModuleFileError(file, e.message);
        if (e instanceof WasmFormatError) throw new ModuleFileError(file, `is not a valid core module: ${e.message}`);
        throw e;
      }
    }
    return { footprint, bytes };
  }

  async #compileModules(
    component: LoadedComponent,
    read: ReadComponent,
    memoryBytes: number,
    tableElements: number,
    key: string,
    refuse: (message: string) => ComponentLoadError,
  ): Promise<CompiledComponent> {
    const modules = new Map<string, WebAssembly.Module>();
    try {
      for (const [file, bytes] of read.bytes!) {
        try {
          modules.set(file, await WebAssembly.compile(bytes));
        } catch (e) {
          throw refuse(`: core module ${file} does not compile: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      read.compiled = undefined;
      throw e;
    }
    // Compiled: the rewritten bytes are no longer needed.
    read.bytes = undefined;
    return { component, key, memoryBytes, tableElements, modules, footprint: read.footprint, heapBytes: instanceHeapBytes(read.footprint) };
  }

  async #transpile(bytes: Uint8Array, digest: string, source: string): Promise<CacheMeta> {
    let result: Awaited<ReturnType<typeof transpileBytes>>;
    try {
      // Loaded when a component is first transpiled: a start that finds its glue cached never reads it.
      const { transpileBytes: transpile } = await import('@bytecodealliance/jco-transpile');
      result = await transpile(bytes, { name: 'component', instantiation: 'async', emitTypescriptDeclarations: false });
    } catch (e) {
      throw new ComponentLoadError(source, `not a valid component: ${firstLine(e)}`);
    }
    const files = Object.keys(result.files).filter((f) => !f.endsWith('.d.ts'));
    let glue: string;
    try {
      glue = boundGlue(new TextDecoder().decode(result.files['component.js']));
    } catch (e) {
      if (e instanceof GlueBoundsError) throw new ComponentLoadError(source, e.message);
      throw e;
    }
    const meta: CacheMeta = { imports: result.imports, exports: result.exports.map(([name]) => name), files };
    // Write into a private temp dir, then rename: a crash never leaves half a cache entry.
    const dir = this.dirFor(digest);
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    for (const f of files) {
      await mkdir(dirname(join(tmp, f)), { recursive: true });
      await writeFile(join(tmp, f), f === 'component.js' ? glue : result.files[f]!);
    }
    await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir).catch(async (e) => {
      // Another process won the race with identical content.
      await rm(tmp, { recursive: true, force: true });
      if ((await readMeta(dir)) === null) throw e;
    });
    return meta;
  }
}

async function readMeta(dir: string): Promise<CacheMeta | null> {
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as CacheMeta;
    const present = new Set(await readdir(dir));
    return meta.files.every((f) => f.includes('/') || present.has(f)) ? meta : null;
  } catch {
    return null;
  }
}

/** A core module that cannot be run as it is; the message says why (it follows the file's name). */
class ModuleFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

/** A component binary starts with the wasm magic and layer 1; a core module has layer 0. */
function checkComponentHeader(bytes: Uint8Array, source: string): void {
  const magic = bytes.length >= 8 && bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  if (!magic) throw new ComponentLoadError(source, 'not a WebAssembly file (bad magic number)');
  const layer = bytes[6]! | (bytes[7]! << 8);
  if (layer === 0)
    throw new ComponentLoadError(source, 'this is a core WebAssembly module, not a component; wrap it with `wasm-tools component new` (or build.mjs for WAT)');
  if (layer !== 1) throw new ComponentLoadError(source, `unknown WebAssembly layer ${layer}`);
}

function recogniseWorld(exports: readonly string[]): ComponentWorld {
  if (exports.some((e) => e.startsWith('greentic:host/node@'))) return 'greentic-host-node';
  if (greenticAbiOf(exports) !== undefined) return 'greentic-component-node';
  return 'unknown';
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (
    msg
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? 'unknown error'
  );
}
