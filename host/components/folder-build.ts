import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { formatProblem, type ConfigProblem } from '../tenancy/config/problems.js';
import { parseYamlText } from '../tenancy/config/yaml-file.js';
import { buildInChildProcess } from './build-runner.js';
import { ComponentBuildError, NODE_WORLD, shownPath, sourceKind } from './builder.js';
import { importProblems, type SourceImports } from './import-check.js';
import { parseManifest, type ComponentManifest } from './manifest.js';
import { ComponentLoadError, ComponentRegistry } from './registry.js';

/** A component folder that could not be built; the message names the file and says why (one line, or a short list). */
export class FolderBuildError extends Error {
  override readonly name = 'FolderBuildError';
}

/** What a component folder's build wrote. */
export interface FolderBuild {
  readonly name: string;
  readonly version: string;
  readonly digest: string;
  readonly size: number;
  /** DIR/dist/NAME.wasm and DIR/dist/manifest.yaml. */
  readonly wasm: string;
  readonly manifest: string;
  /** The interfaces it exports (versioned names). */
  readonly exports: readonly string[];
}

export interface FolderBuildOptions {
  /** Progress lines of the build (bundling, componentizing, cache hits). */
  readonly progress: (line: string) => void;
  /** The build cache; none builds from scratch. */
  readonly cacheDir: string | undefined;
  /** The transpile cache the load check fills (the first call then finds the glue ready). */
  readonly transpileCacheDir: string;
  readonly defaultWit: string;
}

/**
 * Build the component in `dir` (its manifest.yaml's source) into `dir/dist/`, as `component build`
 * and `dev` do: built and checked in a scratch folder (imports against the manifest, loaded the way
 * the host loads it), so dist/ changes only when everything passed and a broken source leaves the
 * last good build in place.
 */
export async function buildComponentFolder(dir: string, opts: FolderBuildOptions): Promise<FolderBuild> {
  const manifestFile = join(dir, 'manifest.yaml');
  const shownManifest = shownPath(manifestFile);
  if (!existsSync(manifestFile)) {
    throw new FolderBuildError(`${shownManifest}: file not found (a component folder has one; greentic-host component new NAME makes a folder)`);
  }
  const authored = await readFile(manifestFile, 'utf8');
  const manifest = readManifest(authored, shownManifest);
  const problem = (path: string, message: string) => new FolderBuildError(formatProblem({ file: shownManifest, path, message }));
  if (!manifest.source) throw problem('source', 'missing: name the file to build, e.g. source: src/my_component.js');
  if (!sourceKind(manifest.source)) throw problem('source', `expected a .js, .mjs or .wat file, got ${JSON.stringify(manifest.source)}`);
  const source = resolve(dir, manifest.source);
  if (!existsSync(source) || !statSync(source).isFile())
    throw new FolderBuildError(`${shownPath(source)}: file not found (${shownManifest} names it as source)`);
  const wit = manifest.wit ? resolve(dir, manifest.wit) : opts.defaultWit;
  if (!existsSync(wit)) throw problem('wit', `${shownPath(wit)} does not exist`);

  const out = join(dir, 'dist', `${manifest.name}.wasm`);
  opts.progress(`building ${manifest.name} ${manifest.version} from ${shownPath(source)}`);
  const tmp = await mkdtemp(join(tmpdir(), 'greentic-build-'));
  try {
    const scratchOut = join(tmp, `${manifest.name}.wasm`);
    let built: { size: number; digest: string; imports: SourceImports };
    try {
      const target = { name: manifest.name, source, wit, world: manifest.world ?? NODE_WORLD, tmpDir: tmp, wasiFeatures: manifest.wasi_features };
      built = await buildInChildProcess(target, scratchOut, opts.progress, opts.cacheDir);
    } catch (e) {
      if (e instanceof ComponentBuildError) throw new FolderBuildError(e.message);
      throw e;
    }
    const problems = importProblems(built.imports, manifest, shownPath(source), shownManifest);
    if (problems.length > 0) {
      throw new FolderBuildError(problems.length === 1 ? problems[0]! : `${problems.length} imports the manifest does not allow:\n${problems.join('\n')}`);
    }
    let exports: string[];
    try {
      const loaded = await new ComponentRegistry(opts.transpileCacheDir).loadFile(scratchOut, built.digest);
      if (loaded.world !== 'greentic-host-node') {
        throw new FolderBuildError(
          `${shownPath(out)}: does not export greentic:host/node (it exports: ${loaded.exports.join(', ') || 'nothing'}); a flow cannot use it`,
        );
      }
      exports = loaded.exports.filter((x) => x.includes(':'));
    } catch (e) {
      if (e instanceof ComponentLoadError) throw new FolderBuildError(e.message);
      throw e;
    }
    await mkdir(dirname(out), { recursive: true });
    await copyFile(scratchOut, out);
    const distManifest = join(dir, 'dist', 'manifest.yaml');
    await writeFile(distManifest, builtManifest(authored, manifest.name, built.digest));
    return { name: manifest.name, version: manifest.version, digest: built.digest, size: built.size, wasm: out, manifest: distManifest, exports };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function readManifest(text: string, shown: string): ComponentManifest {
  const doc = parseYamlText(text, shown);
  if (!doc.ok) throw problemsFailed(doc.problems);
  const parsed = parseManifest(doc.data, shown);
  if (!parsed.ok) throw problemsFailed(parsed.problems);
  return parsed.manifest;
}

function problemsFailed(problems: readonly ConfigProblem[]): FolderBuildError {
  return new FolderBuildError(
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
