import { DEFAULT_EGRESS_LIMITS, resolveEgressLimits, type EgressLimits } from '../messaging/egress/egress-limits.js';
import type { Provider } from '../messaging/providers/channel-providers.js';
import type { ApiKeyConfig, LimitsConfig, ModuleLimitsConfig, SettingsConfig, WebchatSettingsConfig } from './config/schema.js';
import type { Confinement } from './config/confinement.js';
import { DEFAULT_LANGUAGE, DEFAULT_TIMEZONE } from './config/locale-defaults.js';
import type { ConfigProblem } from './config/problems.js';
import { DEFAULT_SESSION_POLICY, resolveSessionPolicy, type SessionPolicy } from '../data/session-policy.js';
import type { HttpPolicy } from '../capabilities/http-client/allow-list.js';

/**
 * What a component's core modules may declare, summed over them (settings.limits.module); a
 * component over any of these is refused at load. `tableElements` caps each table instead: it
 * is written into every table as its maximum.
 */
export interface ModuleLimits {
  readonly bytes: number;
  readonly coreModules: number;
  readonly memories: number;
  readonly tables: number;
  readonly tableElements: number;
  readonly globals: number;
  readonly tags: number;
  readonly functions: number;
  readonly codeBytes: number;
  readonly dataSegments: number;
  readonly dataBytes: number;
  readonly elementSegments: number;
  readonly elements: number;
  readonly types: number;
  readonly imports: number;
  readonly exports: number;
  /** V8 heap one instance may take for what its modules declare, estimated (module-limits.ts). */
  readonly heapMib: number;
}

/** Effective limits of a component call once manifest values are capped by tenant policy. */
export interface Limits {
  readonly deadlineMs: number;
  readonly memoryMib: number;
  readonly maxSteps: number;
  readonly maxCapabilityCalls: number;
  readonly maxStateValueBytes: number;
  readonly maxOutputBytes: number;
  /** Bytes of the strings and lists a guest hands the host in one call (its result and its capability calls' arguments). */
  readonly maxValueBytes: number;
  /** Elements of the lists a guest hands the host in one call. */
  readonly maxValueItems: number;
  readonly module: ModuleLimits;
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
  /** A Greentic component's outgoing HTTP (greentic:http/http-client): requests per component call, the timeout of one (capped by the call's deadline), request and response body bytes, and requests a second of the tenant environment. */
  readonly maxHttpRequests: number;
  readonly httpTimeoutMs: number;
  readonly maxHttpBodyBytes: number;
  readonly httpRatePerSec: number;
}

const MiB = 1024 * 1024;

/** The defaults of settings.limits.module: several times what the largest first-party and fixture components declare. */
export const DEFAULT_MODULE_LIMITS: ModuleLimits = Object.freeze({
  bytes: 64 * MiB,
  coreModules: 16,
  memories: 4,
  tables: 8,
  tableElements: 100_000,
  globals: 10_000,
  tags: 1000,
  functions: 100_000,
  codeBytes: 64 * MiB,
  dataSegments: 100_000,
  dataBytes: 64 * MiB,
  elementSegments: 10_000,
  elements: 100_000,
  types: 10_000,
  imports: 10_000,
  exports: 10_000,
  heapMib: 64,
});

/** The defaults a tenant gets when its config names no limits. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  deadlineMs: 1000,
  memoryMib: 64,
  maxSteps: 50,
  maxCapabilityCalls: 1000,
  maxStateValueBytes: 64 * 1024,
  maxOutputBytes: 1024 * 1024,
  maxValueBytes: 16 * MiB,
  maxValueItems: 100_000,
  module: DEFAULT_MODULE_LIMITS,
  maxMessages: 100,
  maxTurnMessages: 200,
  maxTurnOutputBytes: 2 * 1024 * 1024,
  maxLogLines: 1000,
  maxLogBytes: 64 * 1024,
  maxTurnLogLines: 2000,
  maxTurnLogBytes: 256 * 1024,
  maxStateKeys: 256,
  maxStateBytes: 1024 * 1024,
  maxHttpRequests: 16,
  httpTimeoutMs: 5000,
  maxHttpBodyBytes: 256 * 1024,
  httpRatePerSec: 20,
});

/** Bounds on anonymous webchat traffic of one tenant environment. */
export interface WebchatLimits {
  readonly ratePerSec: number;
  readonly burst: number;
  readonly addressRatePerSec: number;
  readonly addressBurst: number;
  readonly maxTrackedAddresses: number;
  readonly maxLiveSessions: number;
  readonly sessionIdleSeconds: number;
  readonly maxStoredBytes: number;
}

export const DEFAULT_WEBCHAT_LIMITS: WebchatLimits = Object.freeze({
  ratePerSec: 50,
  burst: 100,
  addressRatePerSec: 5,
  addressBurst: 20,
  maxTrackedAddresses: 10_000,
  maxLiveSessions: 1000,
  sessionIdleSeconds: 1800,
  maxStoredBytes: 16 * 1024 * 1024,
});

export interface Settings {
  /** IANA time zone and BCP 47 language tag, told to every component call. */
  readonly timezone: string;
  readonly language: string;
  readonly limits: Limits;
  readonly webchat: WebchatLimits;
  readonly egress: EgressLimits;
  /** Calls (turns) of the tenant running at once; undefined: as many as there are workers. */
  readonly concurrency: number | undefined;
  readonly ratePerSec: number | undefined;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** Session expiry, transcript retention and redaction (settings.sessions). */
  readonly sessions: SessionPolicy;
  /** Where the tenant's guests run (tenant level: its environments share it). */
  readonly isolation: 'thread' | 'process';
}

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  timezone: DEFAULT_TIMEZONE,
  language: DEFAULT_LANGUAGE,
  limits: DEFAULT_LIMITS,
  webchat: DEFAULT_WEBCHAT_LIMITS,
  egress: DEFAULT_EGRESS_LIMITS,
  concurrency: undefined,
  ratePerSec: undefined,
  logLevel: 'info',
  sessions: DEFAULT_SESSION_POLICY,
  isolation: 'thread',
});

/** Layer `over` (an environment's settings) on `base` (the tenant's), key by key. */
export function resolveSettings(base: Settings, over: SettingsConfig | undefined): Settings {
  if (!over) return base;
  return {
    timezone: over.timezone ?? base.timezone,
    language: over.language ?? base.language,
    limits: resolveLimits(base.limits, over.limits),
    webchat: resolveWebchat(base.webchat, over.webchat),
    egress: resolveEgressLimits(base.egress, over.egress),
    concurrency: over.concurrency ?? base.concurrency,
    ratePerSec: over.rate_per_sec ?? base.ratePerSec,
    logLevel: over.log_level ?? base.logLevel,
    sessions: resolveSessionPolicy(base.sessions, over.sessions),
    isolation: over.isolation ?? base.isolation,
  };
}

function resolveWebchat(base: WebchatLimits, over: WebchatSettingsConfig | undefined): WebchatLimits {
  if (!over) return base;
  return {
    ratePerSec: over.rate_per_sec ?? base.ratePerSec,
    burst: over.burst ?? base.burst,
    addressRatePerSec: over.address_rate_per_sec ?? base.addressRatePerSec,
    addressBurst: over.address_burst ?? base.addressBurst,
    maxTrackedAddresses: over.max_tracked_addresses ?? base.maxTrackedAddresses,
    maxLiveSessions: over.max_live_sessions ?? base.maxLiveSessions,
    sessionIdleSeconds: over.session_idle_seconds ?? base.sessionIdleSeconds,
    maxStoredBytes: over.max_stored_bytes ?? base.maxStoredBytes,
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
    maxValueBytes: over.max_value_bytes ?? base.maxValueBytes,
    maxValueItems: over.max_value_items ?? base.maxValueItems,
    module: resolveModuleLimits(base.module, over.module),
    maxMessages: over.max_messages ?? base.maxMessages,
    maxTurnMessages: over.max_turn_messages ?? base.maxTurnMessages,
    maxTurnOutputBytes: over.max_turn_output_bytes ?? base.maxTurnOutputBytes,
    maxLogLines: over.max_log_lines ?? base.maxLogLines,
    maxLogBytes: over.max_log_bytes ?? base.maxLogBytes,
    maxTurnLogLines: over.max_turn_log_lines ?? base.maxTurnLogLines,
    maxTurnLogBytes: over.max_turn_log_bytes ?? base.maxTurnLogBytes,
    maxStateKeys: over.max_state_keys ?? base.maxStateKeys,
    maxStateBytes: over.max_state_bytes ?? base.maxStateBytes,
    maxHttpRequests: over.max_http_requests ?? base.maxHttpRequests,
    httpTimeoutMs: over.http_timeout_ms ?? base.httpTimeoutMs,
    maxHttpBodyBytes: over.max_http_body_bytes ?? base.maxHttpBodyBytes,
    httpRatePerSec: over.http_rate_per_sec ?? base.httpRatePerSec,
  };
}

function resolveModuleLimits(base: ModuleLimits, over: ModuleLimitsConfig | undefined): ModuleLimits {
  if (!over) return base;
  return {
    bytes: over.bytes ?? base.bytes,
    coreModules: over.core_modules ?? base.coreModules,
    memories: over.memories ?? base.memories,
    tables: over.tables ?? base.tables,
    tableElements: over.table_elements ?? base.tableElements,
    globals: over.globals ?? base.globals,
    tags: over.tags ?? base.tags,
    functions: over.functions ?? base.functions,
    codeBytes: over.code_bytes ?? base.codeBytes,
    dataSegments: over.data_segments ?? base.dataSegments,
    dataBytes: over.data_bytes ?? base.dataBytes,
    elementSegments: over.element_segments ?? base.elementSegments,
    elements: over.elements ?? base.elements,
    types: over.types ?? base.types,
    imports: over.imports ?? base.imports,
    exports: over.exports ?? base.exports,
    heapMib: over.heap_mib ?? base.heapMib,
  };
}

export interface EnvModel {
  readonly id: string;
  readonly name: string;
  readonly settings: Settings;
}

export interface ChannelModel {
  readonly id: string;
  readonly provider: Provider;
  /** The flow the config names; without one the loader picks the team's flow (flow/channel-flows.ts). */
  readonly flow: string | undefined;
  /** A webchat channel's page title. */
  readonly title: string | undefined;
  /** The provider's settings, checked by its own schema (host/messaging/providers/). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly tenant: string;
  readonly team: string;
  /** The file and path that define the channel, for error messages. */
  readonly file: string;
  readonly path: string;
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
  /** Its folder: every file of its config is read through this (links included). */
  readonly folder: Confinement;
  /** Its folder and the workspace's shared components folder: where its components may be. */
  readonly componentFolders: Confinement;
  readonly settings: Settings;
  readonly envs: ReadonlyMap<string, EnvModel>;
  readonly teams: ReadonlyMap<string, TeamModel>;
  readonly grants: TenantGrants;
  /** Component name -> real folder (confined), for components declared by path in the tenant's config. */
  readonly componentPaths: ReadonlyMap<string, string>;
  /** REST API key configuration (public key files read, from inside the tenant's folder, at load). */
  readonly api: ApiModel | undefined;
  /** The packs its config names (those in its packs/ folder are found when its components load). */
  readonly packs: readonly PackSource[];
}

/** A pack a tenant's config names: the file, how its components are named, what signs it. */
export interface PackSource {
  /** Absolute path (inside the tenant's folder: read through its confinement). */
  readonly file: string;
  /** Pack component id -> the type name the tenant grants and its flows use. */
  readonly names: ReadonlyMap<string, string>;
  /** Ed25519 public keys (PEM, read at load) a signature must be by, with the file each came from. */
  readonly trust: ReadonlyArray<{ readonly file: string; readonly pem: string }>;
  readonly requireSigned: boolean;
  /** Where the config names it (for problems). */
  readonly origin: { readonly file: string; readonly path: string };
}

/** A key verifying a tenant's API tokens; an asymmetric one carries its PEM, read when the tenant loaded. */
export type ApiKeyModel = Extract<ApiKeyConfig, { alg: 'HS256' }> | (Exclude<ApiKeyConfig, { alg: 'HS256' }> & { readonly public_key_pem: string });

export interface ApiModel {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: readonly ApiKeyModel[];
}

/** One component granted to a tenant: to every team, or to the teams listed. */
export interface ComponentGrant {
  /** Teams that may use it; undefined: every team. */
  readonly teams: ReadonlySet<string> | undefined;
  /** WASI interfaces (or whole packages, "wasi:cli/*") it may import. */
  readonly wasi: readonly string[];
  /** Origins it may send HTTP requests to (a Greentic component's http-client), parsed; empty: none. */
  readonly http?: HttpPolicy;
}

/** Secrets one component may read: from the team's and tenant's namespaces, and which also from `global/`. */
export interface SecretGrant {
  readonly names: ReadonlySet<string>;
  readonly global: ReadonlySet<string>;
  /** Secrets it may also write (greentic:secrets-store@1.1.0 put), into the team's namespace. */
  readonly write?: ReadonlySet<string>;
}

/**
 * A tenant's grants, keyed by component name. Maps, never plain objects: a name from config
 * ("constructor", "__proto__") can only match an entry the tenant wrote, never Object.prototype.
 */
export interface TenantGrants {
  readonly components: ReadonlyMap<string, ComponentGrant>;
  readonly secrets: ReadonlyMap<string, SecretGrant>;
}

/** The top of the hierarchy: one bundle directory. */
export interface Workspace {
  readonly name: string;
  readonly root: string;
  /** The shared components folder bundle.yaml declares (shared_components), if any. */
  readonly sharedComponents: string | undefined;
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
