import { createPublicKey } from 'node:crypto';
import { join, resolve } from 'node:path';
import { HttpPolicy } from '../../capabilities/http-client/allow-list.js';
import {
  DEFAULT_SETTINGS,
  resolveSettings,
  type ChannelModel,
  type ComponentGrant,
  type EnvModel,
  type SecretGrant,
  type TeamModel,
  type TenantModel,
} from '../model.js';
import type { ApiKeyModel } from '../model.js';
import { displayPath, MAX_CONFIG_FILE_BYTES, readTextBounded } from './config-file.js';
import type { Confinement } from './confinement.js';
import { listEntries } from './folder.js';
import { joinPath, zodProblems, type ConfigProblem } from './problems.js';
import { TeamFileSchema, type TeamBody, type TenantBody } from './schema.js';
import { readYamlFile } from './yaml-file.js';

/** Where a piece of config came from, so every problem can name file and path. */
export interface Origin {
  readonly file: string;
  readonly path: PropertyKey[];
}

/** What a tenant's config may reach: its own folder, and for components also the shared components folder. */
export interface TenantFolders {
  readonly dir: string;
  readonly own: Confinement;
  readonly components: Confinement;
}

/**
 * Build one tenant's model from its validated body: teams (inline and teams/*.yaml), grants as
 * Maps, component folders and API key files resolved inside its folders. Returns null (with
 * problems) when anything is wrong; never throws for bad config.
 */
export async function buildTenant(
  id: string,
  body: TenantBody,
  origin: Origin,
  folders: TenantFolders,
  bundleRoot: string,
  problems: ConfigProblem[],
): Promise<TenantModel | null> {
  const before = problems.length;
  const at = (...path: PropertyKey[]) => joinPath([...origin.path, ...path]);
  const problem = (path: string, message: string, file = origin.file) => problems.push({ file, path, message, tenant: id });
  const settings = resolveSettings(DEFAULT_SETTINGS, body.settings);
  const envs = new Map<string, EnvModel>();
  for (const [envId, env] of Object.entries(body.environments)) {
    envs.set(envId, { id: envId, name: env?.name ?? envId, settings: resolveSettings(settings, env?.settings) });
  }
  if (envs.size === 0) problem(at('environments'), 'a tenant needs at least one environment');

  // Teams: inline in the tenant definition, or one file each under teams/.
  const teamSources = new Map<string, { body: TeamBody; origin: Origin }>();
  for (const [teamId, team] of Object.entries(body.teams ?? {}))
    teamSources.set(teamId, { body: team, origin: { file: origin.file, path: [...origin.path, 'teams', teamId] } });
  const teamsDir = join(folders.dir, 'teams');
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
    if (parsed.data.team !== teamId) {
      problem('team', `says "${parsed.data.team}" but the file is teams/${teamId}.yaml`, shown);
      continue;
    }
    if (teamSources.has(teamId)) {
      problem('', `team "${teamId}" is also defined inline in ${origin.file}; define it once`, shown);
      continue;
    }
    const { team: _team, ...teamBody } = parsed.data;
    teamSources.set(teamId, { body: teamBody, origin: { file: shown, path: [] } });
  }

  const teams = new Map<string, TeamModel>();
  for (const [teamId, src] of teamSources) {
    src.body.environments?.forEach((e, i) => {
      if (!envs.has(e)) problem(joinPath([...src.origin.path, 'environments', i]), `tenant "${id}" has no environment "${e}"`, src.origin.file);
    });
    const channels = new Map<string, ChannelModel>();
    for (const [chId, ch] of Object.entries(src.body.channels)) channels.set(chId, { ...ch, id: chId, tenant: id, team: teamId });
    teams.set(teamId, {
      id: teamId,
      name: src.body.name ?? teamId,
      envs: new Set(src.body.environments ?? envs.keys()),
      channels,
      file: src.origin.file,
      path: joinPath(src.origin.path),
    });
  }

  // Grants, as Maps: a lookup by any name matches only what the tenant wrote.
  const components = new Map<string, ComponentGrant>();
  for (const [comp, grant] of Object.entries(body.grants?.components ?? {})) {
    grant?.teams?.forEach((t, i) => {
      if (!teams.has(t)) problem(at('grants', 'components', comp, 'teams', i), `tenant "${id}" has no team "${t}"`);
    });
    components.set(comp, {
      teams: grant?.teams ? new Set(grant.teams) : undefined,
      wasi: [...(grant?.wasi ?? [])],
      ...(grant?.http ? { http: HttpPolicy.of(grant.http) } : {}),
    });
  }
  const secrets = new Map<string, SecretGrant>();
  for (const [comp, grant] of Object.entries(body.grants?.secrets ?? {})) {
    if (!components.has(comp)) problem(at('grants', 'secrets', comp), `component "${comp}" is not granted in grants.components`);
    secrets.set(comp, { names: new Set(grant.names ?? []), global: new Set(grant.global ?? []), ...(grant.write ? { write: new Set(grant.write) } : {}) });
  }

  // Component folders and key files: relative to the bundle root, and inside the tenant's folders.
  const componentPaths = new Map<string, string>();
  for (const [name, src] of Object.entries(body.components ?? {})) {
    const where = at('components', name, 'path');
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
      problem(at('api', 'keys', i, 'public_key_file'), `${JSON.stringify(k.public_key_file)}: ${read.problems[0]!.message}`);
      continue;
    }
    try {
      createPublicKey(read.text);
    } catch {
      problem(at('api', 'keys', i, 'public_key_file'), `${JSON.stringify(k.public_key_file)}: not a PEM public key`);
      continue;
    }
    keys.push({ ...k, public_key_file: read.real, public_key_pem: read.text });
  }
  const api = body.api && { issuer: body.api.issuer, audience: body.api.audience, keys };
  if (problems.length > before) return null;
  return {
    id,
    name: body.name ?? id,
    file: origin.file,
    path: joinPath(origin.path),
    dir: folders.dir,
    folder: folders.own,
    componentFolders: folders.components,
    settings,
    envs,
    teams,
    grants: { components, secrets },
    componentPaths,
    api,
  };
}
