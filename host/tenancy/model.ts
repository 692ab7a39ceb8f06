import type { ApiConfig, ChannelConfig, GrantsConfig, LimitsConfig, Provider, SettingsConfig } from './config/schema.js';
import type { ConfigProblem } from './config/problems.js';

/** Effective limits of a component call once manifest values are capped by tenant policy. */
export interface Limits {
  readonly deadlineMs: number;
  readonly memoryMib: number;
  readonly maxSteps: number;
  readonly maxCapabilityCalls: number;
  readonly maxStateValueBytes: number;
  readonly maxOutputBytes: number;
  /** Replies and sent messages, counted, per component call and per turn. */
  readonly maxMessages: number;
  readonly maxTurnMessages: number;
  /** Bytes of replies and sent messages per turn (maxOutputBytes is per call). */
  readonly maxTurnOutputBytes: number;
  /** Log lines (log.write, guest stdout/stderr) and their bytes, per component call and per turn. */
  readonly maxLogLines: number;
  readonly maxLogBytes: number;
  readonly maxTurnLogLines: number;
  readonly maxTurnLogBytes: number;
  /** Keys of one session's working memory, and their bytes (keys and values) together. */
  readonly maxStateKeys: number;
  readonly maxStateBytes: number;
}

/** The defaults a tenant gets when its config names no limits. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  deadlineMs: 1000,
  memoryMib: 64,
  maxSteps: 50,
  maxCapabilityCalls: 1000,
  maxStateValueBytes: 64 * 1024,
  maxOutputBytes: 1024 * 1024,
  maxMessages: 100,
  maxTurnMessages: 200,
  maxTurnOutputBytes: 2 * 1024 * 1024,
  maxLogLines: 1000,
  maxLogBytes: 64 * 1024,
  maxTurnLogLines: 2000,
  maxTurnLogBytes: 256 * 1024,
  maxStateKeys: 256,
  maxStateBytes: 1024 * 1024,
});

export interface Settings {
  readonly limits: Limits;
  /** Calls (turns) of the tenant running at once; undefined: as many as there are workers. */
  readonly concurrency: number | undefined;
  readonly ratePerSec: number | undefined;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  limits: DEFAULT_LIMITS,
  concurrency: undefined,
  ratePerSec: undefined,
  logLevel: 'info',
});

/** Layer `over` (an environment's settings) on `base` (the tenant's), key by key. */
export function resolveSettings(base: Settings, over: SettingsConfig | undefined): Settings {
  if (!over) return base;
  return {
    limits: resolveLimits(base.limits, over.limits),
    concurrency: over.concurrency ?? base.concurrency,
    ratePerSec: over.rate_per_sec ?? base.ratePerSec,
    logLevel: over.log_level ?? base.logLevel,
  };
}

function resolveLimits(base: Limits, over: LimitsConfig | undefined): Limits {
  if (!over) return base;
  return {
    deadlineMs: over.deadline_ms ?? base.deadlineMs,
    memoryMib: over.memory_mib ?? base.memoryMib,
    maxSteps: over.max_steps ?? base.maxSteps,
    maxCapabilityCalls: over.max_capability_calls ?? base.maxCapabilityCalls,
    maxStateValueBytes: over.max_state_value_bytes ?? base.maxStateValueBytes,
    maxOutputBytes: over.max_output_bytes ?? base.maxOutputBytes,
    maxMessages: over.max_messages ?? base.maxMessages,
    maxTurnMessages: over.max_turn_messages ?? base.maxTurnMessages,
    maxTurnOutputBytes: over.max_turn_output_bytes ?? base.maxTurnOutputBytes,
    maxLogLines: over.max_log_lines ?? base.maxLogLines,
    maxLogBytes: over.max_log_bytes ?? base.maxLogBytes,
    maxTurnLogLines: over.max_turn_log_lines ?? base.maxTurnLogLines,
    maxTurnLogBytes: over.max_turn_log_bytes ?? base.maxTurnLogBytes,
    maxStateKeys: over.max_state_keys ?? base.maxStateKeys,
    maxStateBytes: over.max_state_bytes ?? base.maxStateBytes,
  };
}

export interface EnvModel {
  readonly id: string;
  readonly name: string;
  readonly settings: Settings;
}

export interface ChannelModel extends Readonly<Omit<ChannelConfig, 'provider'>> {
  readonly id: string;
  readonly provider: Provider;
  readonly tenant: string;
  readonly team: string;
}

export interface TeamModel {
  readonly id: string;
  readonly name: string;
  /** Environments this team exists in. */
  readonly envs: ReadonlySet<string>;
  readonly channels: ReadonlyMap<string, ChannelModel>;
  /** The file that defined the team, for error messages. */
  readonly file: string;
  /** The path of the team inside that file ("" for a team file, "teams.support" inline). */
  readonly path: string;
}

export interface TenantModel {
  readonly id: string;
  readonly name: string;
  readonly file: string;
  /** Path of the tenant inside its file ("" for tenant.yaml, "tenants.bigcorp" in bundle.yaml). */
  readonly path: string;
  /** tenants/<id>/, where its flows and components live. */
  readonly dir: string;
  readonly settings: Settings;
  readonly envs: ReadonlyMap<string, EnvModel>;
  readonly teams: ReadonlyMap<string, TeamModel>;
  readonly grants: GrantsConfig;
  /** Component name -> absolute folder, for components declared by path in the tenant's config. */
  readonly componentPaths: ReadonlyMap<string, string>;
  /** REST API key configuration (public key files resolved against the bundle root). */
  readonly api: ApiConfig | undefined;
}

/** The top of the hierarchy: one bundle directory. */
export interface Workspace {
  readonly name: string;
  readonly root: string;
  /** Tenants whose configuration loaded; a broken tenant is absent and has problems below. */
  readonly tenants: ReadonlyMap<string, TenantModel>;
  readonly problems: readonly ConfigProblem[];
}

/** The channel named by a scope, or a sentence saying which part of the scope does not exist. */
export function findChannel(
  ws: Workspace,
  tenant: string,
  env: string,
  team: string,
  channel: string,
): { ok: true; tenant: TenantModel; team: TeamModel; channel: ChannelModel } | { ok: false; reason: string } {
  const t = ws.tenants.get(tenant);
  if (!t) return { ok: false, reason: `unknown tenant "${tenant}"` };
  if (!t.envs.has(env)) return { ok: false, reason: `tenant "${tenant}" has no environment "${env}"` };
  const tm = t.teams.get(team);
  if (!tm || !tm.envs.has(env)) return { ok: false, reason: `tenant "${tenant}" has no team "${team}" in environment "${env}"` };
  const ch = tm.channels.get(channel);
  if (!ch) return { ok: false, reason: `team "${tenant}/${team}" has no channel "${channel}"` };
  return { ok: true, tenant: t, team: tm, channel: ch };
}
