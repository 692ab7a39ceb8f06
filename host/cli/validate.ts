import { resolve } from 'node:path';
import { ComponentCatalog } from '../components/catalog.js';
import { ComponentRegistry } from '../components/registry.js';
import { loadTenantRuntimeSafely } from '../flow/runtime.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR, DEFAULT_CACHE_DIR } from '../paths.js';
import { loadWorkspace } from '../tenancy/config/load.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../tenancy/config/problems.js';
import { count, HELP_FLAG, parsingFlags, CommandFailed, required, type CommandIo } from './usage.js';
import { parseArgs } from 'node:util';
import { RULE_DESCRIPTIONS } from '../flow/channel-flows.js';
import { describeInPool, type Describer } from '../flow/describe.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { WorkerPool } from '../sandbox/pool.js';

async function startPool(logger: Logger): Promise<WorkerPool> {
  const pool = new WorkerPool({ logger, size: 1, spare: false });
  await pool.start();
  return pool;
}

export const VALIDATE_HELP = `Usage: greentic-host validate --bundle DIR [--json]

Check a bundle without serving it: every config file against its schema, every flow's
nodes, routes, component types, grants and node configs, and every component it uses
(digest, imports; a Greentic component's ops, by calling its describe() in the sandbox).
Prints each problem as FILE: PATH: MESSAGE, and which flow each channel runs
(TENANT/TEAM/CHANNEL: FLOW (why): named by the channel, or the default rule). With --json, prints
one JSON object instead:
{"valid", "bundle", "tenants", "teams", "channels", "flows", "problems": [{"file", "path", "message", "tenant"}]}.

Exit codes: 0 valid, 1 problems found, 2 bad usage.`;

export async function validateCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parsingFlags(() =>
    parseArgs({ args: argv, options: { ...HELP_FLAG, bundle: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: false, strict: true }),
  );
  if (values.help) {
    io.out(VALIDATE_HELP);
    return 0;
  }
  const bundle = resolve(required(values.bundle, 'bundle'));
  let workspace;
  try {
    workspace = await loadWorkspace(bundle);
  } catch (e) {
    if (e instanceof ConfigError) throw new CommandFailed(e.message);
    throw e;
  }
  const catalog = await ComponentCatalog.load({ sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR }, workspace);
  const registry = new ComponentRegistry(DEFAULT_CACHE_DIR);
  const problems: ConfigProblem[] = [...workspace.problems, ...catalog.problems];
  let teams = 0;
  let channels = 0;
  let flows = 0;
  const bound: string[] = [];
  // Greentic components are described in the sandbox to check each node's op; workers start only if one is used.
  const logger = createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'warn' });
  let pool: Promise<WorkerPool> | undefined;
  const describe: Describer = async (component, scope, permissions) => {
    pool ??= startPool(logger);
    return describeInPool(await pool, component, scope, permissions, logger);
  };
  try {
    for (const tenant of workspace.tenants.values()) {
      const { runtime, problems: p } = await loadTenantRuntimeSafely(tenant, catalog, registry, undefined, describe);
      problems.push(...p);
      teams += tenant.teams.size;
      for (const t of tenant.teams.values()) channels += t.channels.size;
      flows += runtime?.flows.size ?? 0;
      for (const [channel, b] of runtime?.channelFlows ?? []) bound.push(`${tenant.id}/${channel}: ${b.flow} (${RULE_DESCRIPTIONS[b.rule]})`);
    }
  } finally {
    await (await pool)?.close();
  }
  // What a Greentic manifest says that changes nothing here (unknown descriptive fields, env.allow, ...).
  for (const tenant of workspace.tenants.values()) {
    for (const type of catalog.typesFor(tenant.id)) {
      const entry = catalog.resolve(tenant.id, type)!;
      for (const note of entry.greentic?.notes ?? []) io.err(`note: ${entry.manifestFile}: ${note}`);
    }
  }
  bound.sort();
  if (values.json) {
    const problemsJson = problems.map((p) => ({ file: p.file, path: p.path, message: p.message, tenant: p.tenant ?? null }));
    const counts = { tenants: workspace.tenants.size, teams, channels, flows };
    io.out(JSON.stringify({ valid: problems.length === 0, bundle: workspace.name, ...counts, problems: problemsJson }));
    return problems.length > 0 ? 1 : 0;
  }
  if (problems.length > 0) {
    for (const line of bound) io.out(line);
    for (const p of problems) io.err(formatProblem(p));
    io.err(`${count(problems.length, 'problem')} in ${bundle}`);
    return 1;
  }
  io.out(
    `bundle ${workspace.name} is valid: ${[count(workspace.tenants.size, 'tenant'), count(teams, 'team'), count(channels, 'channel'), count(flows, 'flow')].join(', ')}`,
  );
  for (const line of bound) io.out(line);
  return 0;
}
