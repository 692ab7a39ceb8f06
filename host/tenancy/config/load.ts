import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { isValidId, whyInvalid } from '../ids.js';
import { DEFAULT_SETTINGS, resolveSettings, type ChannelModel, type EnvModel, type TeamModel, type TenantModel, type Workspace } from '../model.js';
import { ConfigError, joinPath, zodProblems, type ConfigProblem } from './problems.js';
import { BundleFileSchema, InlineTenantSchema, TeamFileSchema, TenantFileSchema, type TeamBody, type TenantBody } from './schema.js';
import { displayPath, readYamlFile } from './yaml-file.js';

/** Where a piece of config came from, so every problem can name file and path. */
interface Origin {
  readonly file: string;
  readonly path: PropertyKey[];
}

/**
 * Load a bundle directory into a Workspace. A broken bundle.yaml is fatal (ConfigError);
 * a broken tenant is left out and its problems are returned, so the other tenants still run.
 */
export async function loadWorkspace(bundleDir: string): Promise<Workspace> {
  const root = resolve(bundleDir);
  const rootStat = await stat(root).catch(() => null);
  if (!rootStat?.isDirectory()) {
    throw new ConfigError([{ file: displayPath(root), path: '', message: 'bundle directory not found' }]);
  }
  const bundleFile = join(root, 'bundle.yaml');
  const parsed = await readYamlFile(bundleFile);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  const shown = displayPath(bundleFile);

  // Validate the envelope first, then each inline tenant on its own.
  const envelope = BundleFileSchema.extend({ tenants: z.record(z.string(), z.unknown()).optional() }).safeParse(parsed.data);
  if (!envelope.success) throw new ConfigError(zodProblems(shown, envelope.error.issues));

  const problems: ConfigProblem[] = [];
  const tenants = new Map<string, TenantModel>();
  const inline = envelope.data.tenants ?? {};
  const tenantsDir = join(root, 'tenants');
  const dirs = await listDirs(tenantsDir);

  for (const [id, raw] of Object.entries(inline)) {
    const origin: Origin = { file: shown, path: ['tenants', id] };
    if (!isValidId(id) || id === 'global') {
      problems.push({ file: shown, path: joinPath(origin.path), message: `invalid tenant id ${JSON.stringify(id)}: ${whyInvalid('tenant', id)}` });
      continue;
    }
    if (dirs.includes(id) && (await exists(join(tenantsDir, id, 'tenant.yaml')))) {
      problems.push({
        file: shown,
        path: joinPath(origin.path),
        message: `tenant "${id}" is also defined in ${displayPath(join(tenantsDir, id, 'tenant.yaml'))}; define it once`,
        tenant: id,
      });
      continue;
    }
    const body = InlineTenantSchema.safeParse(raw);
    if (!body.success) {
      problems.push(...zodProblems(shown, body.error.issues, origin.path, id));
      continue;
    }
    const model = await buildTenant(id, body.data, origin, join(tenantsDir, id), root, problems);
    if (model) tenants.set(id, model);
  }

  for (const id of dirs) {
    if (id in inline) continue;
    const dir = join(tenantsDir, id);
    const file = join(dir, 'tenant.yaml');
    const fileShown = displayPath(file);
    if (!isValidId(id) || id === 'global') {
      problems.push({ file: displayPath(dir), path: '', message: `invalid tenant id ${JSON.stringify(id)} (directory name): ${whyInvalid('tenant', id)}` });
      continue;
    }
    const doc = await readYamlFile(file, id);
    if (!doc.ok) {
      problems.push(
        ...doc.problems.map((p) =>
          p.message === 'file not found' ? { ...p, message: `tenants/${id}/ has no tenant.yaml and bundle.yaml does not define "${id}"` } : p,
        ),
      );
      continue;
    }
    const body = TenantFileSchema.safeParse(doc.data);
    if (!body.success) {
      problems.push(...zodProblems(fileShown, body.error.issues, [], id));
      continue;
    }
    if (body.data.tenant !== id) {
      problems.push({ file: fileShown, path: 'tenant', message: `says "${body.data.tenant}" but the directory is tenants/${id}/`, tenant: id });
      continue;
    }
    const { tenant: _id, ...rest } = body.data;
    const model = await buildTenant(id, rest, { file: fileShown, path: [] }, dir, root, problems);
    if (model) tenants.set(id, model);
  }

  return { name: envelope.data.workspace, root, tenants, problems };
}

async function buildTenant(
  id: string,
  body: TenantBody,
  origin: Origin,
  dir: string,
  bundleRoot: string,
  problems: ConfigProblem[],
): Promise<TenantModel | null> {
  const before = problems.length;
  const at = (...path: PropertyKey[]) => joinPath([...origin.path, ...path]);
  const settings = resolveSettings(DEFAULT_SETTINGS, body.settings);
  const envs = new Map<string, EnvModel>();
  for (const [envId, env] of Object.entries(body.environments)) {
    envs.set(envId, { id: envId, name: env?.name ?? envId, settings: resolveSettings(settings, env?.settings) });
  }
  if (envs.size === 0) problems.push({ file: origin.file, path: at('environments'), message: 'a tenant needs at least one environment', tenant: id });

  // Teams: inline in the tenant definition, or one file each under teams/.
  const teamSources: Array<{ id: string; body: TeamBody; origin: Origin }> = [];
  for (const [teamId, team] of Object.entries(body.teams ?? {}))
    teamSources.push({ id: teamId, body: team, origin: { file: origin.file, path: [...origin.path, 'teams', teamId] } });
  const teamsDir = join(dir, 'teams');
  for (const name of await listFiles(teamsDir, '.yaml')) {
    const teamId = name.slice(0, -'.yaml'.length);
    const file = join(teamsDir, name);
    const shown = displayPath(file);
    const doc = await readYamlFile(file, id);
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
      problems.push({ file: shown, path: 'team', message: `says "${parsed.data.team}" but the file is teams/${teamId}.yaml`, tenant: id });
      continue;
    }
    if (teamSources.some((t) => t.id === teamId)) {
      problems.push({ file: shown, path: '', message: `team "${teamId}" is also defined inline in ${origin.file}; define it once`, tenant: id });
      continue;
    }
    const { team: _team, ...teamBody } = parsed.data;
    teamSources.push({ id: teamId, body: teamBody, origin: { file: shown, path: [] } });
  }

  const teams = new Map<string, TeamModel>();
  for (const src of teamSources) {
    const teamEnvs = src.body.environments ?? [...envs.keys()];
    src.body.environments?.forEach((e, i) => {
      if (!envs.has(e))
        problems.push({
          file: src.origin.file,
          path: joinPath([...src.origin.path, 'environments', i]),
          message: `tenant "${id}" has no environment "${e}"`,
          tenant: id,
        });
    });
    const channels = new Map<string, ChannelModel>();
    for (const [chId, ch] of Object.entries(src.body.channels)) channels.set(chId, { ...ch, id: chId, tenant: id, team: src.id });
    teams.set(src.id, {
      id: src.id,
      name: src.body.name ?? src.id,
      envs: new Set(teamEnvs),
      channels,
      file: src.origin.file,
      path: joinPath(src.origin.path),
    });
  }

  // Grants must name teams and components that exist.
  const grants = body.grants ?? {};
  for (const [comp, grant] of Object.entries(grants.components ?? {})) {
    grant?.teams?.forEach((t, i) => {
      if (!teams.has(t))
        problems.push({ file: origin.file, path: at('grants', 'components', comp, 'teams', i), message: `tenant "${id}" has no team "${t}"`, tenant: id });
    });
  }
  for (const comp of Object.keys(grants.secrets ?? {})) {
    if (!(grants.components && comp in grants.components)) {
      problems.push({ file: origin.file, path: at('grants', 'secrets', comp), message: `component "${comp}" is not granted in grants.components`, tenant: id });
    }
  }

  const componentPaths = new Map<string, string>();
  for (const [name, src] of Object.entries(body.components ?? {})) componentPaths.set(name, resolve(bundleRoot, src.path));

  const api = body.api && {
    ...body.api,
    keys: body.api.keys.map((k) => ('public_key_file' in k ? { ...k, public_key_file: resolve(bundleRoot, k.public_key_file) } : k)),
  };
  for (const [i, k] of (api?.keys ?? []).entries()) {
    if ('public_key_file' in k && !(await exists(k.public_key_file))) {
      problems.push({
        file: origin.file,
        path: at('api', 'keys', i, 'public_key_file'),
        message: `file not found: ${displayPath(k.public_key_file)}`,
        tenant: id,
      });
    }
  }
  if (problems.length > before) return null;
  return { id, name: body.name ?? id, file: origin.file, path: joinPath(origin.path), dir, settings, envs, teams, grants, componentPaths, api };
}

async function listDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Files in `dir` ending with `ext`, sorted; a missing directory is empty. */
export async function listFiles(dir: string, ext: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => e.name)
    .sort();
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
