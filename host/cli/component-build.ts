import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatSize, NODE_WORLD, shownPath } from '../components/builder.js';
import { buildComponentFolder, FolderBuildError, type FolderBuild } from '../components/folder-build.js';
import { BUILD_CACHE_DIR, DEFAULT_CACHE_DIR, WIT_DIR } from '../paths.js';
import { CommandFailed, HELP_FLAG, parsingFlags, UsageError, type CommandIo } from './usage.js';

export const COMPONENT_BUILD_HELP = `Usage: greentic-host component build DIR

Build the component in DIR: its manifest.yaml's source (a .js module, bundled with esbuild
and compiled by componentize-js with every WASI feature off; or a .wat core module) into
DIR/dist/NAME.wasm, against the ${NODE_WORLD} world of greentic-host's wit/.

Also writes DIR/dist/manifest.yaml: the manifest with wasm: NAME.wasm and the sha256 of the
build, so greentic-host call DIR/dist/NAME.wasm finds it and DIR/dist/ can be copied as is to
tenants/<tenant>/components/NAME/ of a bundle. The last line printed is sha256: <digest>.

The build is reproducible: the same source, manifest and toolchain give the same bytes and
digest, wherever and whenever it runs. What the source imports is checked against the
manifest's capabilities (an import the manifest does not cover is an error here, not a denied
call later). A JS build takes a few seconds (up to 30 s the first time); an unchanged one is
taken from the build cache (.cache/components/ of this installation, or GREENTIC_BUILD_CACHE)
at once.

Options:
  --no-cache   build even if the build cache has this build
  -h, --help   this help

Exit codes: 0 built, 1 the manifest or source is broken or the build failed, 2 bad usage.`;

/** `greentic-host component build DIR`. */
export async function componentBuildCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({ args: argv, options: { ...HELP_FLAG, 'no-cache': { type: 'boolean' } }, allowPositionals: true, strict: true }),
  );
  if (values.help) {
    io.out(COMPONENT_BUILD_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing the component DIR' : 'expected one DIR');
  const dir = resolve(positionals[0]!);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CommandFailed(`${positionals[0]}: no such directory`);
  let built: FolderBuild;
  try {
    built = await buildComponentFolder(dir, {
      progress: io.out,
      cacheDir: values['no-cache'] ? undefined : buildCacheDir(),
      transpileCacheDir: DEFAULT_CACHE_DIR,
      defaultWit: WIT_DIR,
    });
  } catch (e) {
    if (e instanceof FolderBuildError) throw new CommandFailed(e.message);
    throw e;
  }
  io.out(`wrote ${shownPath(built.wasm)} (${formatSize(built.size)})`);
  io.out(`wrote ${shownPath(built.manifest)} (wasm: ${built.name}.wasm, sha256 pinned)`);
  io.out(`checked: a component exporting ${built.exports.join(', ') || 'nothing'}`);
  io.out(`sha256: ${built.digest}`);
  return 0;
}

/** The build cache: GREENTIC_BUILD_CACHE (a folder, e.g. one per CI job), else .cache/components/ of this installation. */
export function buildCacheDir(): string {
  const dir = process.env.GREENTIC_BUILD_CACHE;
  return dir === undefined || dir === '' ? BUILD_CACHE_DIR : resolve(dir);
}
