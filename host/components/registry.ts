import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transpileBytes } from '@bytecodealliance/jco-transpile';
import { isGreenticNodeExport } from '../greentic/contract.js';
import { componentImportNames, ComponentImportsError } from './component-imports.js';
import { capMemory, MemoryCapError } from './memory-cap.js';

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
 * Greentic's greentic:component/node@0.6 (run through the adapter in host/greentic/).
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
  /** True when this load ran the transpiler (a cache miss). */
  readonly transpiled: boolean;
}

/** A component's core modules compiled under one memory cap: what a worker instantiates. */
export interface CompiledComponent {
  readonly component: LoadedComponent;
  /** Identifies this (digest, cap) pair: workers cache modules and instances under it. */
  readonly key: string;
  readonly memoryBytes: number;
  /** Core module file name -> compiled module; posted to workers, never recompiled there. */
  readonly modules: ReadonlyMap<string, WebAssembly.Module>;
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
  readonly #compiled = new Map<string, Promise<CompiledComponent>>();

  constructor(cacheDir: string) {
    this.#cacheDir = join(cacheDir, `jco-transpile-${JCO_TRANSPILE_VERSION}`);
  }

  /** Where the transpiled glue for `digest` lives. */
  dirFor(digest: string): string {
    return join(this.#cacheDir, digest);
  }

  /** Load a component file; if `expectedDigest` is given the bytes must match it. */
  async loadFile(path: string, expectedDigest?: string): Promise<LoadedComponent> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
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
      transpiled,
    };
  }

  /**
   * Compile a component's core modules with every memory they define capped at `memoryMib`
   * (once per digest and cap). A component that needs more memory at start is refused.
   */
  compile(component: LoadedComponent, memoryMib: number, source = component.glueUrl): Promise<CompiledComponent> {
    const key = `${component.digest}@${memoryMib}`;
    let pending = this.#compiled.get(key);
    if (!pending) {
      pending = this.#compile(component, memoryMib, key, source);
      this.#compiled.set(key, pending);
      pending.catch(() => this.#compiled.delete(key));
    }
    return pending;
  }

  async #compile(component: LoadedComponent, memoryMib: number, key: string, source: string): Promise<CompiledComponent> {
    const memoryBytes = memoryMib * 1024 * 1024;
    const modules = new Map<string, WebAssembly.Module>();
    for (const file of component.coreModules) {
      let bytes: Uint8Array;
      try {
        bytes = capMemory(await readFile(join(component.dir, file)), memoryBytes).bytes;
      } catch (e) {
        if (e instanceof MemoryCapError) throw new ComponentLoadError(source, `core module ${file}: ${e.message}`);
        throw e;
      }
      try {
        modules.set(file, await WebAssembly.compile(bytes));
      } catch (e) {
        throw new ComponentLoadError(source, `core module ${file} does not compile: ${(e as Error).message}`);
      }
    }
    return { component, key, memoryBytes, modules };
  }

  async #transpile(bytes: Uint8Array, digest: string, source: string): Promise<CacheMeta> {
    let result: Awaited<ReturnType<typeof transpileBytes>>;
    try {
      result = await transpileBytes(bytes, { name: 'component', instantiation: 'async', emitTypescriptDeclarations: false });
    } catch (e) {
      throw new ComponentLoadError(source, `not a valid component: ${firstLine(e)}`);
    }
    const files = Object.keys(result.files).filter((f) => !f.endsWith('.d.ts'));
    const meta: CacheMeta = { imports: result.imports, exports: result.exports.map(([name]) => name), files };
    // Write into a private temp dir, then rename: a crash never leaves half a cache entry.
    const dir = this.dirFor(digest);
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    for (const f of files) {
      await mkdir(dirname(join(tmp, f)), { recursive: true });
      await writeFile(join(tmp, f), result.files[f]!);
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
  if (exports.some(isGreenticNodeExport)) return 'greentic-component-node';
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
