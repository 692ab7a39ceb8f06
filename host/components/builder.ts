import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative, sep } from 'node:path';

/**
 * Turns a component's source into component bytes: JS through esbuild and componentize-js
 * (every WASI feature off), WAT through jco's wasm-tools API (parse, embed the world, make a
 * component). Used by build.mjs and by `greentic-host component build` (in a child process).
 *
 * These tools read files through preview2-shim's filesystem, which preopens nothing: the caller
 * must open the folders first (openBuildFilesystem), and only in a process that runs no guests.
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

/**
 * Let the build tools read `dirs` through preview2-shim's filesystem. This changes process-wide
 * state that guests would share: call it only in a build process (build.mjs, builder-process.js).
 */
export async function openBuildFilesystem(dirs: readonly string[]): Promise<void> {
  // The package's types describe its browser build; under Node it maps virtual path -> host path.
  const shim = (await import('@bytecodealliance/preview2-shim/filesystem')) as unknown as NodeFilesystemShim;
  shim._setPreopens(Object.fromEntries(dirs.map((d) => [d, d])));
}

interface NodeFilesystemShim {
  _setPreopens(preopens: Record<string, string>): void;
}

/** Build `target` into component bytes; `progress` receives one line per step. */
export async function buildComponentBytes(target: BuildTarget, progress: (line: string) => void = () => {}): Promise<Uint8Array> {
  const kind = sourceKind(target.source);
  if (kind === 'wat') return buildWat(target, progress);
  if (kind === 'js') return buildJs(target, progress);
  throw new ComponentBuildError(target.source, `${shownPath(target.source)}: expected a .js, .mjs or .wat source`);
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

async function buildJs(t: BuildTarget, progress: (line: string) => void): Promise<Uint8Array> {
  const esbuild = await import('esbuild');
  const { componentize } = await import('@bytecodealliance/componentize-js');
  // componentize-js wants one ES module: bundle the source and whatever it imports.
  const bundled = join(t.tmpDir, `${t.name}.bundle.js`);
  await mkdir(dirname(bundled), { recursive: true });
  progress(`bundling ${shownPath(t.source)} (esbuild)`);
  try {
    await esbuild.build({
      entryPoints: [t.source],
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
  progress(`componentizing (componentize-js, WASI features off: ${disableFeatures.join(', ')}); this takes a few seconds`);
  const t0 = performance.now();
  try {
    const { component } = await componentize({
      sourcePath: bundled,
      witPath: t.wit,
      worldName: t.world,
      disableFeatures,
    });
    progress(`componentized in ${formatDuration(performance.now() - t0)}`);
    return component;
  } catch (e) {
    throw new ComponentBuildError(t.source, `${shownPath(t.source)}: componentize-js failed: ${toolMessage(e, bundled, t.source)}`);
  }
}

async function buildWat(t: BuildTarget, progress: (line: string) => void): Promise<Uint8Array> {
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
    return component;
  } catch (e) {
    throw new ComponentBuildError(t.source, `${shownPath(t.source)}: ${toolMessage(e, undefined, t.source)}`);
  }
}

/** esbuild's first errors as "FILE:LINE:COLUMN: TEXT", the way editors link them. */
function esbuildMessage(e: unknown, source: string): string {
  const errors = (e as { errors?: Array<{ text: string; location: { file: string; line: number; column: number; lineText: string } | null }> }).errors;
  if (!errors || errors.length === 0) return `${shownPath(source)}: ${firstLines(e, 3)}`;
  const lines = errors.slice(0, 5).map((err) => {
    const at = err.location ? `${err.location.file}:${err.location.line}:${err.location.column + 1}: ` : `${shownPath(source)}: `;
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
