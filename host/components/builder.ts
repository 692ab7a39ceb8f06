import { writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildKey, type BuildCache, type BuildInputs } from './build-cache.js';
import { bundleImports, type SourceImports } from './import-check.js';

/**
 * Turns a component's source into component bytes: JS through esbuild and componentize-js
 * (every WASI feature off), WAT through jco's wasm-tools API (parse, embed the world, make a
 * component). Used by build.mjs and by `greentic-host component build` (in a child process).
 *
 * These tools read files through preview2-shim's filesystem, which preopens nothing: the caller
 * must open the folders first (prepareBuildProcess), and only in a process that runs no guests.
 */

/** The world every flow node targets. */
export const NODE_WORLD = 'greentic:host/node-component';

/** WASI features componentize-js leaves out: a JS guest gets no stdio, randomness, clocks or network. */
export const DISABLED_WASI_FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'] as const;

/** What to build: one source file against one WIT world. */
export interface BuildTarget {
  /** The component's name; names the intermediate bundle. */
  readonly name: string;
  /** Absolute path of the .js/.mjs module or .wat core module. */
  readonly source: string;
  /** The WIT directory (or file) holding `world`. */
  readonly wit: string;
  readonly world: string;
  /** A scratch directory for the bundled JS. */
  readonly tmpDir: string;
  /** WASI features to keep on for a JS source (manifest wasi_features); every other one is off. */
  readonly wasiFeatures?: readonly string[];
}

export type SourceKind = 'js' | 'wat';

/** A source that could not be turned into a component; the message names the file and says why, without a stack. */
export class ComponentBuildError extends Error {
  override readonly name = 'ComponentBuildError';
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(message);
  }
}

/** The kind of build a source file needs, by its extension; undefined when it is neither JS nor WAT. */
export function sourceKind(source: string): SourceKind | undefined {
  const ext = extname(source);
  if (ext === '.wat') return 'wat';
  if (ext === '.js' || ext === '.mjs') return 'js';
  return undefined;
}

/** The wall-clock time the build tools see, in ms since the epoch: 2025-01-01T00:00:00Z (JS components' Date.now()). */
export const BUILD_EPOCH_MS = 1_735_689_600_000;

/**
 * Make this process a build process: the build tools may read `dirs` through preview2-shim's
 * filesystem, and see a fixed wall clock (componentize-js writes the time it reads into the
 * clock of a component built without the clocks feature: the same source must give the same
 * bytes). Both change process-wide state that guests would share: call it only in a build
 * process (build.mjs, builder-process.js), before the first build.
 */
export async function prepareBuildProcess(dirs: readonly string[]): Promise<void> {
  // The package's types describe its browser build; under Node it maps virtual path -> host path.
  const shim = (await import('@bytecodealliance/preview2-shim/filesystem')) as unknown as NodeFilesystemShim;
  shim._setPreopens(Object.fromEntries(dirs.map((d) => [d, d])));
  // The splicer binds wallClock.now when componentize-js is first imported: set it before.
  const clocks = (await import('@bytecodealliance/preview2-shim/clocks')) as unknown as NodeClocksShim;
  clocks.wallClock.now = () => ({ seconds: BigInt(BUILD_EPOCH_MS / 1000), nanoseconds: 0 });
}

interface NodeFilesystemShim {
  _setPreopens(preopens: Record<string, string>): void;
}

interface NodeClocksShim {
  wallClock: { now: () => { seconds: bigint; nanoseconds: number } };
}

/** The compiled pre-initializer, next to this module in dist/components/. */
const PRE_INITIALIZER = fileURLToPath(new URL('./pre-initializer.js', import.meta.url));

/** The command componentize-js runs instead of Wizer (pre-initializer.ts), written into `dir`: a shell script running it with this Node. */
function writePreInitializerCommand(dir: string): string {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const file = join(dir, 'pre-initializer');
  writeFileSync(file, `#!/bin/sh\nexec ${quote(process.execPath)} --no-warnings ${quote(PRE_INITIALIZER)} "$@"\n`, { mode: 0o755 });
  return file;
}

/**
 * Build `target` into component bytes; `progress` receives one line per step. With a cache, a
 * build whose inputs are unchanged is taken from it (builds are reproducible: the same bytes).
 */
export async function buildComponentBytes(target: BuildTarget, progress: (line: string) => void = () => {}, cache?: BuildCache): Promise<Uint8Array> {
  return (await buildComponent(target, progress, cache)).bytes;
}

/** A built component and what its source imports (to check against its manifest). */
export interface BuiltComponent {
  readonly bytes: Uint8Array;
  readonly imports: SourceImports;
}

/** Like buildComponentBytes, with the source's imports. */
export async function buildComponent(target: BuildTarget, progress: (line: string) => void = () => {}, cache?: BuildCache): Promise<BuiltComponent> {
  const kind = sourceKind(target.source);
  // A WAT build takes milliseconds: only JS builds are cached.
  if (kind === 'wat') return buildWat(target, progress);
  if (kind === 'js') return buildJs(target, progress, cache);
  throw new ComponentBuildError(target.source, `${shownPath(target.source)}: expected a .js, .mjs or .wat source`);
}

/** `make` unless the cache has a build for `inputs`; what `make` builds is kept there. */
async function cached(
  inputs: BuildInputs,
  cache: BuildCache | undefined,
  progress: (line: string) => void,
  make: () => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const key = cache ? buildKey(inputs) : undefined;
  const hit = key ? await cache!.get(key) : undefined;
  if (hit) {
    progress(`unchanged since an earlier build: taken from the build cache (${shownPath(cache!.dir)})`);
    return hit;
  }
  const bytes = await make();
  if (key) await cache!.put(key, bytes);
  return bytes;
}

/**
 * A path as an author would type it from where they are: relative to the working directory
 * (also "../component/src/x.js", as esbuild prints it), absolute when that would climb too far.
 */
export function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  if (rel === '' || isAbsolute(rel) || rel.split(sep).filter((s) => s === '..').length > 2) return path;
  return rel;
}

/** "11.5 MB", "7.4 KB". */
export function formatSize(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** "4.1 s", "25 ms". */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

async function buildJs(t: BuildTarget, progress: (line: string) => void, cache: BuildCache | undefined): Promise<BuiltComponent> {
  const esbuild = await import('esbuild');
  // componentize-js wants one ES module: bundle the source and whatever it imports. The bundle
  // has the source's own name (the engine shows it in stack traces), in a folder of its own.
  const bundled = join(t.tmpDir, t.name, basename(t.source));
  await mkdir(dirname(bundled), { recursive: true });
  progress(`bundling ${shownPath(t.source)} (esbuild)`);
  try {
    await esbuild.build({
      entryPoints: [t.source],
      // Paths esbuild writes into the bundle (its module comments) are relative to the source's
      // folder, so the bundle does not depend on where the build runs from.
      absWorkingDir: dirname(t.source),
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      outfile: bundled,
      external: ['greentic:*', 'wasi:*'],
      logLevel: 'silent',
    });
  } catch (e) {
    throw new ComponentBuildError(t.source, esbuildMessage(e, t.source));
  }
  const disableFeatures = DISABLED_WASI_FEATURES.filter((f) => !t.wasiFeatures?.includes(f));
  const source = await readFile(bundled);
  const inputs: BuildInputs = { kind: 'js', source, wit: t.wit, world: t.world, features: DISABLED_WASI_FEATURES.filter((f) => !disableFeatures.includes(f)) };
  const bytes = await cached(inputs, cache, progress, () => componentizeBundle(t, bundled, disableFeatures, progress));
  return { bytes, imports: bundleImports(source.toString('utf8')) };
}

async function componentizeBundle(
  t: BuildTarget,
  bundled: string,
  disableFeatures: ReadonlyArray<(typeof DISABLED_WASI_FEATURES)[number]>,
  progress: (line: string) => void,
): Promise<Uint8Array> {
  const { componentize } = await import('@bytecodealliance/componentize-js');
  progress(`componentizing (componentize-js, WASI features off: ${disableFeatures.join(', ')}); this takes a few seconds`);
  const t0 = performance.now();
  try {
    const { component } = await componentize({
      sourcePath: bundled,
      witPath: t.wit,
      worldName: t.world,
      disableFeatures: [...disableFeatures],
      // Wizer would snapshot the build machine's clock, randomness and temp paths: ours does not.
      wizerBin: writePreInitializerCommand(dirname(bundled)),
    });
    progress(`componentized in ${formatDuration(performance.now() - t0)}`);
    return component;
  } catch (e) {
    throw new ComponentBuildError(t.source, `${shownPath(t.source)}: componentize-js failed: ${toolMessage(e, bundled, t.source)}`);
  }
}

async function buildWat(t: BuildTarget, progress: (line: string) => void): Promise<BuiltComponent> {
  const jco = await import('@bytecodealliance/jco');
  progress(`parsing ${shownPath(t.source)} (jco wasm-tools)`);
  const t0 = performance.now();
  let text: string;
  try {
    text = await readFile(t.source, 'utf8');
  } catch (e) {
    throw new ComponentBuildError(t.source, `${shownPath(t.source)}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let core: Uint8Array;
  try {
    core = await jco.parse(text);
  } catch (e) {
    throw new ComponentBuildError(t.source, watParseMessage(e, t.source));
  }
  try {
    const embedded = await jco.componentEmbed({ binary: core, witPath: t.wit, world: t.world });
    const component = await jco.componentNew(embedded, []);
    progress(`made a component of ${basename(t.source)} in ${formatDuration(performance.now() - t0)}`);
    return { bytes: component, imports: coreImports(core) };
  } catch (e) {
    throw new ComponentBuildError(t.source, `${shownPath(t.source)}: ${toolMessage(e, undefined, t.source)}`);
  }
}

/** A WAT module's imports: functions by interface, in the names JS uses (list-keys: listKeys). */
function coreImports(core: Uint8Array): SourceImports {
  const out = new Map<string, Set<string>>();
  for (const imp of WebAssembly.Module.imports(new WebAssembly.Module(core))) {
    if (imp.kind !== 'function') continue;
    const names = out.get(imp.module) ?? new Set<string>();
    names.add(imp.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()));
    out.set(imp.module, names);
  }
  return out;
}

/** esbuild's first errors as "FILE:LINE:COLUMN: TEXT", the way editors link them. */
function esbuildMessage(e: unknown, source: string): string {
  const errors = (e as { errors?: Array<{ text: string; location: { file: string; line: number; column: number; lineText: string } | null }> }).errors;
  if (!errors || errors.length === 0) return `${shownPath(source)}: ${firstLines(e, 3)}`;
  const lines = errors.slice(0, 5).map((err) => {
    // esbuild names files relative to its working directory, the source's folder (absWorkingDir).
    const file = err.location ? shownPath(resolve(dirname(source), err.location.file)) : '';
    const at = err.location ? `${file}:${err.location.line}:${err.location.column + 1}: ` : `${shownPath(source)}: `;
    const code = err.location?.lineText ? `\n    ${err.location.lineText.trim()}` : '';
    return `${at}${err.text}${code}`;
  });
  if (errors.length > 5) lines.push(`(${errors.length - 5} more errors)`);
  return lines.join('\n');
}

/** wasm-tools' parse error (a Rust Debug dump) as "FILE:LINE:COLUMN: why"; line and column count from 1. */
function watParseMessage(e: unknown, source: string): string {
  const raw = e instanceof Error ? e.message : String(e);
  const at = /line: (\d+), col: (\d+)/.exec(raw);
  const why = /kind: Custom\("((?:[^"\\]|\\.)*)"\)/.exec(raw)?.[1] ?? /kind: (\w+\([^()]*\))/.exec(raw)?.[1];
  if (!at || !why) return `${shownPath(source)}: ${firstLines(e, 6)}`;
  return `${shownPath(source)}:${Number(at[1]) + 1}:${Number(at[2]) + 1}: ${why}`;
}

/** A tool's error, first lines only, with the machine paths that mean nothing to an author removed. */
function toolMessage(e: unknown, bundled: string | undefined, source: string): string {
  let text = firstLines(e, 6).replace(/^Failed to initialize component \(wizer \([^)]*\)\):\s*/, 'the module failed to initialize: ');
  // StarlingMonkey names the bundle by a path of its own; what matters to the author is that
  // line numbers refer to the bundle, not to their file.
  if (bundled) text = text.replace(new RegExp(`[^\\s"]*${escapeRegExp(basename(bundled))}`, 'g'), `${basename(source)} (bundled)`);
  // componentize-js calls the module it checks "source.js".
  if (bundled) text = text.split('"source.js"').join(JSON.stringify(basename(source)));
  return text;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The first `n` lines of an error's message; StarlingMonkey's stack dump and its repeat of the error are dropped. */
function firstLines(e: unknown, n: number): string {
  const lines = (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trimEnd());
  const end = lines.findIndex((l) => /^\s*Stack:/.test(l));
  return (end === -1 ? lines : lines.slice(0, end))
    .filter((l) => l !== '' && !/^(Additionally, some promises were rejected|Promise rejected but never handled)/.test(l))
    .slice(0, n)
    .join('\n  ');
}
