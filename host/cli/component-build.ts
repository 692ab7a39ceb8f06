import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import { buildInChildProcess } from '../components/build-runner.js';
import { ComponentBuildError, formatSize, NODE_WORLD, shownPath, sourceKind } from '../components/builder.js';
import { parseManifest, type ComponentManifest } from '../components/manifest.js';
import { ComponentLoadError, ComponentRegistry } from '../components/registry.js';
import { BUILD_CACHE_DIR, DEFAULT_CACHE_DIR, WIT_DIR } from '../paths.js';
import { importProblems, type SourceImports } from '../components/import-check.js';
import { formatProblem, type ConfigProblem } from '../tenancy/config/problems.js';
import { parseYamlText } from '../tenancy/config/yaml-file.js';
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
  const manifestFile = join(dir, 'manifest.yaml');
  const shownManifest = shownPath(manifestFile);
  if (!existsSync(manifestFile)) {
    throw new CommandFailed(`${shownManifest}: file not found (a component folder has one; greentic-host component new NAME makes a folder)`);
  }
  const manifest = await readManifest(manifestFile, shownManifest);
  const problem = (path: string, message: string) => new CommandFailed(formatProblem({ file: shownManifest, path, message }));
  if (!manifest.source) throw problem('source', 'missing: name the file to build, e.g. source: src/my_component.js');
  if (!sourceKind(manifest.source)) throw problem('source', `expected a .js, .mjs or .wat file, got ${JSON.stringify(manifest.source)}`);
  const source = resolve(dir, manifest.source);
  if (!existsSync(source)) throw new CommandFailed(`${shownPath(source)}: file not found (${shownManifest} names it as source)`);
  const wit = manifest.wit ? resolve(dir, manifest.wit) : WIT_DIR;
  if (!existsSync(wit)) throw problem('wit', `${shownPath(wit)} does not exist`);

  const out = join(dir, 'dist', `${manifest.name}.wasm`);
  io.out(`building ${manifest.name} ${manifest.version} from ${shownPath(source)}`);
  const tmp = await mkdtemp(join(tmpdir(), 'greentic-build-'));
  try {
    // Built into the scratch folder and checked there: dist/ changes only when everything passed.
    const scratchOut = join(tmp, `${manifest.name}.wasm`);
    let built: { size: number; digest: string; imports: SourceImports };
    try {
      const target = { name: manifest.name, source, wit, world: manifest.world ?? NODE_WORLD, tmpDir: tmp, wasiFeatures: manifest.wasi_features };
      built = await buildInChildProcess(target, scratchOut, io.out, values['no-cache'] ? undefined : buildCacheDir());
    } catch (e) {
      if (e instanceof ComponentBuildError) throw new CommandFailed(e.message);
      throw e;
    }
    const problems = importProblems(built.imports, manifest, shownPath(source), shownManifest);
    if (problems.length > 0) {
      throw new CommandFailed(problems.length === 1 ? problems[0]! : `${problems.length} imports the manifest does not allow:\n${problems.join('\n')}`);
    }
    // Load it the way the host will, so a component the host would refuse fails here; this also
    // leaves its transpiled glue in the cache for the first call.
    let exports: string[];
    try {
      const loaded = await new ComponentRegistry(DEFAULT_CACHE_DIR).loadFile(scratchOut, built.digest);
      if (loaded.world !== 'greentic-host-node') {
        throw new CommandFailed(`${shownPath(out)}: does not export greentic:host/node (it exports: ${loaded.exports.join(', ') || 'nothing'}); a flow cannot use it`);
      }
      exports = loaded.exports.filter((x) => x.includes(':'));
    } catch (e) {
      if (e instanceof ComponentLoadError) throw new CommandFailed(e.message);
      throw e;
    }
    await mkdir(dirname(out), { recursive: true });
    await copyFile(scratchOut, out);
    io.out(`wrote ${shownPath(out)} (${formatSize(built.size)})`);
    const distManifest = join(dir, 'dist', 'manifest.yaml');
    await writeFile(distManifest, builtManifest(await readFile(manifestFile, 'utf8'), manifest.name, built.digest));
    io.out(`wrote ${shownPath(distManifest)} (wasm: ${manifest.name}.wasm, sha256 pinned)`);
    io.out(`checked: a component exporting ${exports.join(', ') || 'nothing'}`);
    io.out(`sha256: ${built.digest}`);
    return 0;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function readManifest(file: string, shown: string): Promise<ComponentManifest> {
  const doc = parseYamlText(await readFile(file, 'utf8'), shown);
  if (!doc.ok) throw problemsFailed(doc.problems);
  const parsed = parseManifest(doc.data, shown);
  if (!parsed.ok) throw problemsFailed(parsed.problems);
  return parsed.manifest;
}

function problemsFailed(problems: readonly ConfigProblem[]): CommandFailed {
  return new CommandFailed(
    `${problems.length === 1 ? 'the manifest has a problem' : `the manifest has ${problems.length} problems`}:\n${problems.map(formatProblem).join('\n')}`,
  );
}

/**
 * The manifest that goes next to the built bytes: the author's, comments kept, with the keys that
 * only mean something beside the sources (source, wit, world, wasi_features) replaced by the bytes and their digest.
 */
function builtManifest(text: string, name: string, digest: string): string {
  const doc = parseDocument(text);
  for (const key of ['source', 'wit', 'world', 'wasi_features', 'wasm', 'sha256']) doc.delete(key);
  doc.set('wasm', `${name}.wasm`);
  doc.set('sha256', digest);
  const note = ` Written by greentic-host component build from ../manifest.yaml: edit that one.\n Install: copy this folder to tenants/<tenant>/components/${name}/ of a bundle.`;
  doc.commentBefore = doc.commentBefore ? `${note}\n${doc.commentBefore}` : note;
  return doc.toString({ flowCollectionPadding: false });
}

/** The build cache: GREENTIC_BUILD_CACHE (a folder, e.g. one per CI job), else .cache/components/ of this installation. */
function buildCacheDir(): string {
  const dir = process.env.GREENTIC_BUILD_CACHE;
  return dir === undefined || dir === '' ? BUILD_CACHE_DIR : resolve(dir);
}
