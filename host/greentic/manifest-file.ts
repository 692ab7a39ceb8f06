import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { MAX_CONFIG_FILE_BYTES, readTextBounded } from '../tenancy/config/config-file.js';
import type { Confinement } from '../tenancy/config/confinement.js';
import type { ConfigProblem } from '../tenancy/config/problems.js';
import { displayPath, shapeProblem } from '../tenancy/config/yaml-file.js';
import { mapGreenticManifest, type GreenticArtifact, type GreenticManifestResult } from './manifest.js';

/** Greentic's manifest file name. */
export const GREENTIC_MANIFEST_FILE = 'component.manifest.json';
/**
 * The pin of a tenant's Greentic component, next to its manifest: one line as `sha256sum`
 * prints it ("<64 hex digits>  <file>.wasm"), naming the .wasm and its digest. Greentic's own
 * hashes.component_wasm is BLAKE3, which Node's crypto lacks; the host pins by sha256 as for
 * every tenant component.
 */
export const PIN_FILE = 'component.sha256';

/** Read `file` (component.manifest.json) and map it; `name` is the flow type it is known by. */
export async function readGreenticManifest(
  file: string,
  name: string,
  artifact?: GreenticArtifact,
  tenant?: string,
  confinement?: Confinement,
): Promise<GreenticManifestResult> {
  const shown = displayPath(file);
  const read = await readTextBounded(file, { maxBytes: MAX_CONFIG_FILE_BYTES, tenant, confinement });
  if (!read.ok) return read;
  let data: unknown;
  try {
    data = JSON.parse(read.text);
  } catch (e) {
    return { ok: false, problems: [{ file: shown, path: '', message: `not valid JSON: ${(e as Error).message}`, tenant }] };
  }
  const shape = shapeProblem(data);
  if (shape) return { ok: false, problems: [{ file: shown, path: shape.path, message: shape.message, tenant }] };
  const r = mapGreenticManifest(data, shown, name, artifact);
  return r.ok ? r : { ok: false, problems: r.problems.map((p) => ({ ...p, tenant })) };
}

/** Read a component folder's pin file: the .wasm it names (inside `dir`) and its sha256. */
export async function readPin(
  dir: string,
  tenant?: string,
  confinement?: Confinement,
): Promise<{ ok: true; artifact: GreenticArtifact & { sha256: string } } | { ok: false; problems: ConfigProblem[] }> {
  const file = join(dir, PIN_FILE);
  const shown = displayPath(file);
  const bad = (message: string) => ({ ok: false as const, problems: [{ file: shown, path: '', message, tenant }] });
  const notFound = `a tenant's Greentic component is pinned here: run \`sha256sum COMPONENT.wasm > ${PIN_FILE}\` in its folder`;
  const read = await readTextBounded(file, { maxBytes: MAX_CONFIG_FILE_BYTES, tenant, confinement, notFound });
  if (!read.ok) return read;
  const text = read.text;
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const m = lines.length === 1 ? /^([0-9a-f]{64}) [ *](.+\.wasm)$/.exec(lines[0]!.trim()) : null;
  if (!m) return bad('expected one line "<sha256 in lower-case hex>  <file>.wasm", as sha256sum prints it');
  const wasm = resolve(dir, m[2]!);
  const rel = relative(dir, wasm);
  if (rel.startsWith('..') || isAbsolute(rel)) return bad(`${m[2]}: the .wasm must be a file inside the component's folder`);
  return { ok: true, artifact: { wasm: rel, sha256: m[1]! } };
}

/**
 * The component.manifest.json that describes `wasmPath`: next to it, or in a folder above whose
 * artifacts.component_wasm names it (Greentic's layout: target/wasm32-wasip2/release/x.wasm
 * under the manifest's folder). Undefined when there is none.
 */
export async function findGreenticManifest(wasmPath: string): Promise<string | undefined> {
  const beside = join(dirname(wasmPath), GREENTIC_MANIFEST_FILE);
  if (existsSync(beside)) return beside;
  let dir = dirname(wasmPath);
  for (let up = 0; up < 5 && dir !== dirname(dir); up++) {
    dir = dirname(dir);
    const candidate = join(dir, GREENTIC_MANIFEST_FILE);
    if (!existsSync(candidate)) continue;
    try {
      const data = JSON.parse(await readFile(candidate, 'utf8')) as { artifacts?: { component_wasm?: unknown } };
      const named = data.artifacts?.component_wasm;
      if (typeof named === 'string' && resolve(dir, named) === resolve(wasmPath)) return candidate;
    } catch {
      // Not this one: a broken manifest elsewhere is not ours to report.
    }
  }
  return undefined;
}
