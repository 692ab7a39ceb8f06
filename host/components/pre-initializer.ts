// A deterministic stand-in for Wizer, the pre-initializer componentize-js runs (its `wizerBin`
// option). Wizer runs the JS engine's initialization with the build machine's real clock, real
// randomness and the random temp folders componentize-js makes, and snapshots the memory that
// results: so the same source built twice gave different bytes and digests. This one runs the
// same initialization in V8 through node:wasi with a clock and randomness that are the same on
// every build, and shows the engine fixed paths (the sources folder as /greentic-build/sources,
// the source file's folder as /), then snapshots exactly as Wizer does (snapshot-module.ts).
// It is started as a program (`node pre-initializer.js` + Wizer's arguments), by builder.ts.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { instrument, rewriteInitialized, SnapshotModuleError, type GlobalKind } from './snapshot-module.js';

/** What componentize-js asks of Wizer (the only flags it passes). */
export interface WizerArgs {
  readonly initFunc: string;
  readonly dirs: readonly string[];
  readonly mapDirs: ReadonlyArray<{ readonly guest: string; readonly host: string }>;
  readonly input: string;
  readonly output: string;
}

/** The guest folder the build's sources folder is shown as: a fixed name, never a temp path. */
export const SOURCES_GUEST_DIR = '/greentic-build/sources';
/** The instant the clock shows during initialization: 2025-01-01T00:00:00Z, in nanoseconds. */
const EPOCH_NS = 1_735_689_600_000_000_000n;

/** Parse Wizer's command line as componentize-js builds it; anything else is refused by name. */
export function parseWizerArgs(argv: readonly string[]): WizerArgs {
  let initFunc: string | undefined;
  let output: string | undefined;
  let input: string | undefined;
  const dirs: string[] = [];
  const mapDirs: Array<{ guest: string; host: string }> = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--allow-wasi' || a === '--wasm-bulk-memory=true' || a === '--inherit-env=true') continue;
    if (a === '--init-func') initFunc = argv[++i];
    else if (a.startsWith('--dir=')) dirs.push(a.slice('--dir='.length));
    else if (a.startsWith('--mapdir=')) {
      const [guest, host] = a.slice('--mapdir='.length).split('::');
      if (!guest || !host) throw new Error(`pre-initializer: bad ${a}`);
      mapDirs.push({ guest, host });
    } else if (a.startsWith('-o=')) output = a.slice(3);
    else if (!a.startsWith('-') && input === undefined) input = a;
    else throw new Error(`pre-initializer: unexpected argument ${JSON.stringify(a)} (componentize-js changed how it runs Wizer)`);
  }
  if (!initFunc || !output || !input) throw new Error('pre-initializer: expected --init-func NAME, -o=OUT and an input module');
  return { initFunc, dirs, mapDirs, input, output };
}

/**
 * The engine's own arguments (componentize-js hands them over stdin:
 * `--initializer-script-path P --strip-path-prefix X/ SOURCE`), with every host path replaced
 * by its fixed guest path; and the preopens that make those guest paths resolve.
 */
export function guestView(args: WizerArgs, runtimeArgs: string): { runtimeArgs: string; preopens: Record<string, string> } {
  const tokens = runtimeArgs.trim().split(/\s+/);
  const flags = new Map<string, string>();
  while (tokens.length > 1 && tokens[0]!.startsWith('--')) flags.set(tokens.shift()!, tokens.shift()!);
  const source = tokens.join(' ');
  const initializer = flags.get('--initializer-script-path');
  const root = args.mapDirs.find((m) => m.guest === '/');
  if (tokens.length !== 1 || !initializer || !flags.has('--strip-path-prefix') || flags.size !== 2 || !root || args.dirs.length !== 1) {
    throw new Error(`pre-initializer: unexpected engine arguments ${JSON.stringify(runtimeArgs.slice(0, 200))} (componentize-js changed how it runs Wizer)`);
  }
  const sources = resolve(args.dirs[0]!);
  const inSources = relative(sources, resolve(initializer));
  if (inSources.startsWith('..')) throw new Error(`pre-initializer: the initializer script ${initializer} is outside ${sources}`);
  const sourceFile = resolve(root.host, source);
  return {
    runtimeArgs: `--initializer-script-path ${SOURCES_GUEST_DIR}/${inSources.split(sep).join('/')} --strip-path-prefix / ${basename(sourceFile)}`,
    preopens: { [SOURCES_GUEST_DIR]: sources, '/': dirname(sourceFile) },
  };
}

type NodeWasi = InstanceType<typeof import('node:wasi').WASI>;

/** A WASI exit during initialization, reported as Wizer does. */
class GuestExit extends Error {
  constructor(readonly code: number) {
    super(`Exited with i32 exit status ${code}`);
  }
}

/** node:wasi's imports with the clock, randomness and exit made deterministic. */
function deterministicWasi(wasi: NodeWasi, memory: () => WebAssembly.Memory): Record<string, unknown> {
  const real = (wasi.getImportObject() as { wasi_snapshot_preview1: Record<string, unknown> }).wasi_snapshot_preview1;
  let ticks = 0n;
  let counter = 0;
  let pool = Buffer.alloc(0);
  return {
    ...real,
    // Each reading moves the clock on by one microsecond: time passes, the same way on every build.
    clock_time_get: (id: number, _precision: bigint, out: number) => {
      ticks += 1000n;
      new DataView(memory().buffer).setBigUint64(out, id === 0 ? EPOCH_NS + ticks : ticks, true);
      return 0;
    },
    clock_res_get: (_id: number, out: number) => {
      new DataView(memory().buffer).setBigUint64(out, 1000n, true);
      return 0;
    },
    // SHA-256 in counter mode from a fixed seed: bytes that look random and are the same every build.
    random_get: (ptr: number, len: number) => {
      const view = new Uint8Array(memory().buffer, ptr, len);
      for (let at = 0; at < len;) {
        if (pool.length === 0) pool = createHash('sha256').update(`greentic-host pre-initializer ${counter++}`).digest();
        const n = Math.min(pool.length, len - at);
        view.set(pool.subarray(0, n), at);
        pool = pool.subarray(n);
        at += n;
      }
      return 0;
    },
    proc_exit: (code: number) => {
      throw new GuestExit(code);
    },
  };
}

/** Run the initialization and write the snapshot; the exit code and stderr are Wizer's. */
export async function preInitialize(argv: readonly string[], stdinText: string, env: NodeJS.ProcessEnv): Promise<number> {
  // node:wasi is loaded here, in the pre-initializer's own process only (it warns that it is experimental).
  const { WASI } = await import('node:wasi');
  const args = parseWizerArgs(argv);
  const view = guestView(args, stdinText);
  const original = readFileSync(args.input);
  const inst = instrument(original);
  const module = await WebAssembly.compile(inst.bytes);
  const scratch = mkdtempSync(join(tmpdir(), 'greentic-preinit-'));
  const stdinFile = join(scratch, 'stdin');
  writeFileSync(stdinFile, view.runtimeArgs);
  const stdin = openSync(stdinFile, 'r');
  try {
    // The environment componentize-js set for Wizer, without what a shell between added.
    const guestEnv = Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== undefined && !['PWD', 'OLDPWD', 'SHLVL', '_'].includes(k))) as Record<
      string,
      string
    >;
    const wasi = new WASI({ version: 'preview1', args: [], env: guestEnv, preopens: view.preopens, stdin, stdout: 1, stderr: 2, returnOnExit: false });
    let memory: WebAssembly.Memory | undefined;
    const imports: Record<string, Record<string, unknown>> = { wasi_snapshot_preview1: deterministicWasi(wasi, () => memory!) };
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module === 'wasi_snapshot_preview1') continue;
      imports[imp.module] ??= {};
      // As Wizer: the initialization may call no import but WASI.
      imports[imp.module]![imp.name] = () => {
        throw new Error(`the initialization called the import ${imp.module}#${imp.name}, which only exists at run time`);
      };
    }
    const instance = await WebAssembly.instantiate(module, imports);
    const exports = instance.exports;
    memory = exports.__wizer_memory_0 as WebAssembly.Memory | undefined;
    const init = exports[args.initFunc];
    if (typeof init !== 'function') throw new Error(`pre-initializer: the module does not export the function ${args.initFunc}`);
    const hasInitialize = typeof exports._initialize === 'function';
    try {
      wasi.initialize({ exports: { memory: memory!, ...(hasInitialize ? { _initialize: exports._initialize } : {}) } });
      (init as () => void)();
    } catch (e) {
      process.stderr.write(`Error: the \`${args.initFunc}\` function trapped\n\nCaused by:\n    ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    const globals = inst.globals.map((kind, i) => globalValue(exports[`__wizer_global_${i}`] as WebAssembly.Global, kind, i));
    const memories = Array.from({ length: inst.memories }, (_, i) => {
      const m = exports[`__wizer_memory_${i}`] as WebAssembly.Memory;
      return { pages: m.buffer.byteLength / 65_536, bytes: new Uint8Array(m.buffer) };
    });
    writeFileSync(args.output, rewriteInitialized(original, { globals, memories }, args.initFunc, hasInitialize));
    return 0;
  } finally {
    closeSync(stdin);
    rmSync(scratch, { recursive: true, force: true });
  }
}

function globalValue(g: WebAssembly.Global, kind: GlobalKind, i: number): number | bigint {
  const v = g.value as number | bigint;
  // A NaN's payload does not survive the JS API: refuse rather than write another NaN.
  if ((kind === 'f32' || kind === 'f64') && Number.isNaN(v))
    throw new SnapshotModuleError(`pre-initializer: global ${i} is NaN, which cannot be snapshot exactly`);
  return v;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const stdinText = readFileSync(0, 'utf8');
  preInitialize(process.argv.slice(2), stdinText, process.env).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
