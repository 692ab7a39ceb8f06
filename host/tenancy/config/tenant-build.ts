import { createPublicKey } from 'node:crypto';
import { join, resolve } from 'node:path';
import { HttpPolicy } from '../../capabilities/http-client/allow-list.js';
import {
  DEFAULT_SETTINGS,
  resolveSettings,
  type ChannelModel,
  type ComponentGrant,
  type EnvModel,
  type PackSource,
  type SecretGrant,
  type TeamModel,
  type TenantModel,
} from '../model.js';
import type { ApiKeyModel } from '../model.js';
import { displayPath, MAX_CONFIG_FILE_BYTES, readTextBounded } from './config-file.js';
import type { Confinement } from './confinement.js';
import { listEntries } from './folder.js';
import { teamHeader, TeamFileSchema, type TenantBody } from './forms.js';
import { mergeSources, type ConfigSource } from './merge.js';
import { zodProblems, type ConfigProblem } from './problems.js';
import { readYamlFile } from './yaml-file.js';

/** What a tenant's config may reach: its own folder, and for components also the shared components folder. */
export interface TenantFolders {
  readonly dir: string;
  readonly own: Confinement;
  readonly components: Confinement;
}

/** The first-party components a tenant whose config names no `grants.components` may use (in every team). */
export const DEFAULT_COMPONENT_GRANTS: readonly string[] = ['reply', 'ask', 'branch', 'handlebars'];
/** The environment a tenant whose config names none has. */
export const DEFAULT_ENVIRONMENT = 'prod';

/**
 * Read tenants/<id>/teams/*.yaml, each as a piece to merge at teams.<team>; problems (a bad
 * file, a header naming another team or tenant) are added to `problems`.
 */
export async function teamFileSources(id: string, dir: string, folders: TenantFolders, problems: ConfigProblem[]): Promise<ConfigSource[]> {
  const sources: ConfigSource[] = [];
  const teamsDir = join(dir, 'teams');
  for (const name of await listEntries(teamsDir, '.yaml')) {
    const teamId = name.slice(0, -'.yaml'.length);
    const file = join(teamsDir, name);
    const shown = displayPath(file);
    const doc = await readYamlFile(file, id, folders.own);
    if (!doc.ok) {
      problems.push(...doc.problems);
      continue;
    }
    const parsed = TeamFileSchema.safeParse(doc.data);
    if (!parsed.success) {
      problems.push(...zodProblems(shown, parsed.error.issues, [], id));
      continue;
    }
    const header = teamHeader(parsed.data);
    const headerPath = typeof parsed.data.team === 'string' ? 'team' : 'team.id';
    if (header.id !== teamId) {
      problems.push({ file: shown, path: headerPath, message: `says "${header.id}" but the file is teams/${teamId}.yaml`, tenant: id });
      continue;
    }
    if (header.tenantId !== undefined && header.tenantId !== id) {
      problems.push({ file: shown, path: 'team.tenant_id', message: `says "${header.tenantId}" but the file is in tenants/${id}/`, tenant: id });
      continue;
    }
    const { team: _team, ...body } = parsed.data;
    const mount = ['teams', teamId];
    if (header.record) sources.push({ value: header.record, mount, file: shown, path: ['team'] });
    sources.push({ value: body, mount, file: shown, path: [] });
  }
  return sources;
}

/**
 * Build one tenant's model from the validated pieces that describe it, merged (merge.ts):
 * environments (`prod` when none are named), teams, grants as Maps (the first-party components
 * when none are named), component folders and API key files resolved inside its folders.
 * Returns null (with problems) when anything is wrong; never throws for bad config.
 */
export async function buildTenant(
  id: string,
  sources: readonly ConfigSource[],
  primary: { readonly file: string; readonly path: string },
  folders: TenantFolders,
  bundleRoot: string,
  problems: ConfigProblem[],
): Promise<TenantModel | null> {
  const before = problems.length;
  const merged = mergeSources(sources, id);
  problems.push(...merged.conflicts);
  if (problems.length > before) return null;
  const body = merged.value as TenantBody;
  const problem = (path: PropertyKey[], message: string) => problems.push({ ...merged.originOf(path), message, tenant: id });
  const settings = resolveSettings(DEFAULT_SETTINGS, body.settings);
  const envs = new Map<string, EnvModel>();
  for (const [envId, env] of Object.entries(body.environments ?? { [DEFAULT_ENVIRONMENT]: {} })) {
    envs.set(envId, { id: envId, name: env.name ?? envId, settings: resolveSettings(settings, env.settings) });
  }
  if (envs.size === 0) problem(['environments'], 'a tenant needs at least one environment');

  const teams = new Map<string, TeamModel>();
  for (const [teamId, team] of Object.entries(body.teams ?? {})) {
    team.environments?.forEach((e, i) => {
      if (!envs.has(e)) problem(['teams', teamId, 'environments', i], `tenant "${id}" has no environment "${e}"`);
    });
    const channels = new Map<string, ChannelModel>();
    for (const [chId, ch] of Object.entries(team.channels ?? {})) {
      const at = merged.originOf(['teams', teamId, 'channels', chId]);
      channels.set(chId, { ...ch, flow: ch.flow, title: ch.title, config: ch.config ?? {}, id: chId, tenant: id, team: teamId, file: at.file, path: at.path });
    }
    const at = merged.originOf(['teams', teamId]);
    teams.set(teamId, { id: teamId, name: team.name ?? teamId, envs: new Set(team.environments ?? envs.keys()), channels, file: at.file, path: at.path });
  }

  // Grants, as Maps: a lookup by any name matches only what the tenant wrote.
  const components = new Map<string, ComponentGrant>();
  const granted = body.grants?.components ?? Object.fromEntries(DEFAULT_COMPONENT_GRANTS.map((c) => [c, null]));
  for (const [comp, grant] of Object.entries(granted)) {
    grant?.teams?.forEach((t, i) => {
      if (!teams.has(t)) problem(['grants', 'components', comp, 'teams', i], `tenant "${id}" has no team "${t}"`);
    });
    components.set(comp, {
      teams: grant?.teams ? new Set(grant.teams) : undefined,
      wasi: [...(grant?.wasi ?? [])],
      ...(grant?.http ? { http: HttpPolicy.of(grant.http) } : {}),
    });
  }
  const secrets = new Map<string, SecretGrant>();
  for (const [comp, grant] of Object.entries(body.grants?.secrets ?? {})) {
    if (!components.has(comp)) problem(['grants', 'secrets', comp], `component "${comp}" is not granted in grants.components`);
    secrets.set(comp, { names: new Set(grant.names ?? []), global: new Set(grant.global ?? []), ...(grant.write ? { write: new Set(grant.write) } : {}) });
  }

  // Component folders and key files: relative to the bundle root, and inside the tenant's folders.
  const componentPaths = new Map<string, string>();
  for (const [name, src] of Object.entries(body.components ?? {})) {
    const where = ['components', name, 'path'];
    const found = await folders.components.resolve(resolve(bundleRoot, src.path));
    if (!found.ok) problem(where, `${JSON.stringify(src.path)}: ${found.reason === 'not-found' ? 'folder not found' : found.message}`);
    else if (!found.isDirectory) problem(where, `${JSON.stringify(src.path)}: not a folder`);
    else componentPaths.set(name, found.real);
  }
  const keys: ApiKeyModel[] = [];
  for (const [i, k] of (body.api?.keys ?? []).entries()) {
    if (!('public_key_file' in k)) {
      keys.push(k);
      continue;
    }
    const file = resolve(bundleRoot, k.public_key_file);
    const read = await readTextBounded(file, { maxBytes: MAX_CONFIG_FILE_BYTES, confinement: folders.own, tenant: id });
    if (!read.ok) {
      problem(['api', 'keys', i, 'public_key_file'], `${JSON.stringify(k.public_key_file)}: ${read.problems[0]!.message}`);
      continue;
    }
    try {
      createPublicKey(read.text);
    } catch {
      problem(['api', 'keys', i, 'public_key_file'], `${JSON.stringify(k.public_key_file)}: not a PEM public key`);
      continue;
    }
    keys.push({ ...k, public_key_file: read.real, public_key_pem: read.text });
  }
  const api = body.api && { issuer: body.api.issuer, audience: body.api.audience, keys };
  const packs = await packSources(body, folders, id, (path) => merged.originOf(path), problem);
  if (problems.length > before) return null;
  return {
    id,
    name: body.name ?? id,
    file: primary.file,
    path: primary.path,
    dir: folders.dir,
    folder: folders.own,
    componentFolders: folders.components,
    settings,
    envs,
    teams,
    grants: { components, secrets },
    componentPaths,
    api,
    packs,
  };
}

/** The packs `body` names, their trust keys read (PEM, inside the tenant's folder) and their names checked. */
async function packSources(
  body: TenantBody,
  folders: TenantFolders,
  tenant: string,
  originOf: (path: PropertyKey[]) => { file: string; path: string },
  problem: (path: PropertyKey[], message: string) => void,
): Promise<PackSource[]> {
  const out: PackSource[] = [];
  for (const [i, entry] of (body.packs ?? []).entries()) {
    const src = typeof entry === 'string' ? { file: entry } : entry;
    const at = typeof entry === 'string' ? ['packs', i] : ['packs', i, 'file'];
    if (!src.file.endsWith('.gtpack')) {
      problem(at, `${JSON.stringify(src.file)}: a pack file ends in .gtpack`);
      continue;
    }
    const trust: Array<{ file: string; pem: string }> = [];
    for (const [j, keyFile] of (src.trust ?? []).entries()) {
      const file = resolve(folders.dir, keyFile);
      const read = await readTextBounded(file, { maxBytes: MAX_CONFIG_FILE_BYTES, confinement: folders.own, tenant });
      if (!read.ok) problem(['packs', i, 'trust', j], `${JSON.stringify(keyFile)}: ${read.problems[0]!.message}`);
      else trust.push({ file: displayPath(read.real), pem: read.text });
    }
    const names = new Map(Object.entries(src.components ?? {}));
    out.push({ file: resolve(folders.dir, src.file), names, trust, requireSigned: src.require_signed ?? false, origin: originOf(at) });
  }
  return out;
}
