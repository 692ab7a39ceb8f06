import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../paths.js';

/**
 * Built components by the hash of everything that goes into them: the bundled source (or the
 * WAT), the WIT, the world, the WASI features, the versions of the tools and of this builder.
 * Builds are reproducible, so a cached result is the bytes a fresh build would make: an
 * unchanged rebuild takes no componentize step at all. At most MAX_ENTRIES builds are kept.
 */
export class BuildCache {
  static readonly MAX_ENTRIES = 32;

  constructor(readonly dir: string) {}

  /** The cached bytes for `key`, or undefined; a hit counts as a use (it is kept longer). */
  async get(key: string): Promise<Uint8Array | undefined> {
    const file = join(this.dir, `${key}.wasm`);
    try {
      const bytes = await readFile(file);
      const now = new Date();
      await utimes(file, now, now).catch(() => undefined);
      return bytes;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Keep `bytes` under `key` (written whole or not at all), then forget the least recently used beyond the limit. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, `${key}.wasm`);
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
    const entries = await Promise.all(
      readdirSync(this.dir)
        .filter((n) => /^[0-9a-f]{64}\.wasm$/.test(n))
        .map(async (n) => ({ n, t: (await stat(join(this.dir, n))).mtimeMs })),
    );
    entries.sort((a, b) => b.t - a.t || a.n.localeCompare(b.n));
    for (const e of entries.slice(BuildCache.MAX_ENTRIES)) await rm(join(this.dir, e.n), { force: true });
  }
}

/** What a build depends on besides its source: every input is hashed in a fixed order. */
export interface BuildInputs {
  readonly kind: 'js';
  /** The bundled JS. */
  readonly source: Uint8Array;
  /** A WIT folder or file. */
  readonly wit: string;
  readonly world: string;
  /** WASI features left on (JS). */
  readonly features: readonly string[];
}

/** The cache key of a build: sha256 over its inputs, the tools' versions and this builder's code. */
export function buildKey(inputs: BuildInputs): string {
  const h = createHash('sha256').update(`greentic-host component build v1\0${inputs.kind}\0${inputs.world}\0${[...inputs.features].sort().join(',')}\0`);
  h.update(toolchainId()).update('\0').update(inputs.source).update('\0');
  for (const [rel, bytes] of witFiles(inputs.wit)) h.update(rel).update('\0').update(bytes).update('\0');
  return h.digest('hex');
}

/** The WIT files under `wit` (or `wit` itself), by path relative to it, in a stable order. */
function witFiles(wit: string): Array<[string, Buffer]> {
  if (!statSync(wit).isDirectory()) return [['', readFileSync(wit)]];
  const out: Array<[string, Buffer]> = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.wit')) out.push([relative(wit, p).split(sep).join('/'), readFileSync(p)]);
    }
  };
  walk(wit);
  return out;
}

/** The tools a build runs and this builder's own code: a new version of either makes new keys. */
function toolchainId(): string {
  const h = createHash('sha256');
  for (const pkg of ['@bytecodealliance/componentize-js', '@bytecodealliance/jco', 'esbuild']) {
    const json = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string };
    h.update(`${pkg}@${json.version}\0`);
  }
  for (const file of ['builder.js', 'pre-initializer.js', 'snapshot-module.js', 'build-cache.js'])
    h.update(readFileSync(fileURLToPath(new URL(`./${file}`, import.meta.url))));
  return h.digest('hex');
}
