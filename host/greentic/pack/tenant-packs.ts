import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { ComponentEntry } from '../../components/catalog.js';
import { readFileBounded } from '../../tenancy/config/config-file.js';
import { listEntries } from '../../tenancy/config/folder.js';
import type { ConfigProblem } from '../../tenancy/config/problems.js';
import { displayPath } from '../../tenancy/config/yaml-file.js';
import type { PackSource, TenantModel } from '../../tenancy/model.js';
import { mapGreenticManifest } from '../manifest.js';
import { withoutHostKeys } from '../node-config.js';
import { DEFAULT_PACK_LIMITS, PackError } from './archive.js';
import type { PackFlow } from './manifest.js';
import { openPack } from './open-pack.js';
import { trustedKey, type TrustedKey } from './signature.js';
import { packTypeName } from './type-names.js';

/**
 * A tenant's packs deployed: each read through the tenant's folder confinement, opened with
 * every check (open-pack.ts), its components entered in the tenant's catalog under the type
 * names its config grants (never another tenant's: a catalog is per tenant), its flows handed
 * to the flow loader. A pack that fails a check is a problem of its tenant; the tenant's other
 * packs, flows and components, and every other tenant, load as before.
 */

/** One deployed pack, as the flow loader needs it. */
export interface TenantPack {
  /** The pack file, as shown in problems. */
  readonly file: string;
  readonly packId: string;
  readonly version: string;
  readonly flows: readonly PackFlow[];
  /** Pack component id -> the tenant's type name for it (only components that loaded). */
  readonly types: ReadonlyMap<string, string>;
  /** Pack component id -> why it cannot run here (not inside the pack, not mappable, no name). */
  readonly unusable: ReadonlyMap<string, string>;
}

export interface TenantPacks {
  readonly entries: ReadonlyMap<string, ComponentEntry>;
  readonly packs: readonly TenantPack[];
}

/** Load every pack of `tenant` (its config's, then tenants/<id>/packs/*.gtpack); `taken(name)` says why a type name is already used. */
export async function loadTenantPacks(tenant: TenantModel, taken: (name: string) => string | undefined, problems: ConfigProblem[]): Promise<TenantPacks> {
  const entries = new Map<string, ComponentEntry>();
  const packs: TenantPack[] = [];
  const dir = join(tenant.dir, 'packs');
  const named = new Set(tenant.packs.map((p) => p.file));
  const found: PackSource[] = (await listEntries(dir, '.gtpack'))
    .map((name) => resolve(dir, name))
    .filter((file) => !named.has(file))
    .map((file) => ({ file, names: new Map(), trust: [], requireSigned: false, origin: { file: displayPath(file), path: '' } }));
  for (const source of [...tenant.packs, ...found]) {
    const pack = await loadOne(
      tenant,
      source,
      (name) => taken(name) ?? (entries.has(name) ? `another pack of tenant "${tenant.id}" has a component "${name}"` : undefined),
      problems,
    );
    if (!pack) continue;
    for (const [name, entry] of pack.entries) entries.set(name, entry);
    packs.push(pack.pack);
  }
  return { entries, packs };
}

async function loadOne(
  tenant: TenantModel,
  source: PackSource,
  taken: (name: string) => string | undefined,
  problems: ConfigProblem[],
): Promise<{ pack: TenantPack; entries: Map<string, ComponentEntry> } | null> {
  const shown = displayPath(source.file);
  const problem = (file: string, path: string, message: string) => problems.push({ file, path, message, tenant: tenant.id });
  const read = await readFileBounded(source.file, { maxBytes: DEFAULT_PACK_LIMITS.maxPackBytes, confinement: tenant.folder, tenant: tenant.id });
  if (!read.ok) {
    problem(source.origin.file, source.origin.path, `${shown}: ${read.problems[0]!.message}`);
    return null;
  }
  let opened;
  try {
    const trusted: TrustedKey[] = source.trust.map((k) => trustedKey(k.pem, k.file));
    opened = await openPack(read.bytes, shown, { trusted, requireSigned: source.requireSigned });
  } catch (e) {
    if (!(e instanceof PackError)) throw e;
    problem(shown, '', e.message.startsWith(`${shown}: `) ? e.message.slice(shown.length + 2) : e.message);
    return null;
  }
  const entries = new Map<string, ComponentEntry>();
  const types = new Map<string, string>();
  const unusable = new Map<string, string>();
  for (const [i, c] of opened.components.entries()) {
    const at = `manifest.cbor: components[${i}]`;
    const named = packTypeName(c.id, source.names);
    if (!named.ok) {
      unusable.set(c.id, named.why);
      continue;
    }
    const name = named.name;
    const clash = taken(name);
    if (clash) {
      problem(shown, at, `component "${c.id}" would be type "${name}", but ${clash}; name it otherwise in packs[].components`);
      unusable.set(c.id, `its type name "${name}" is taken`);
      continue;
    }
    if (!c.wasm) {
      unusable.set(c.id, `component "${c.id}" is not inside the pack (${c.lockRef ?? 'no reference'}); this host runs only components a pack holds`);
      continue;
    }
    const mapped = mapGreenticManifest({ ...c.declaration, name }, `${shown}: ${at}`, name, { wasm: c.wasmFile, sha256: c.sha256 });
    if (!mapped.ok) {
      problems.push(...mapped.problems.map((p) => ({ ...p, tenant: tenant.id })));
      unusable.set(c.id, `component "${c.id}" cannot run here (see the pack's problems)`);
      continue;
    }
    const schema = mapped.manifest.config_schema;
    entries.set(name, {
      name,
      manifest: mapped.manifest,
      manifestFile: `${shown}: manifest.cbor`,
      wasmPath: `${shown}: ${c.wasmFile}`,
      pinnedDigest: c.sha256,
      origin: 'tenant',
      configSchema: schema ? z.preprocess(withoutHostKeys, z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0])) : undefined,
      greentic: mapped.greentic,
      bytes: c.wasm,
    });
    types.set(c.id, name);
  }
  for (const id of source.names.keys()) {
    if (!opened.components.some((c) => c.id === id))
      problem(source.origin.file, source.origin.path, `packs[].components names "${id.slice(0, 120)}", which pack ${shown} does not have`);
  }
  return { pack: { file: shown, packId: opened.manifest.packId, version: opened.manifest.version, flows: opened.manifest.flows, types, unusable }, entries };
}
