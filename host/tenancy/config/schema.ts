import { z } from 'zod';
import { checkId, type IdKind, InvalidIdError } from '../ids.js';

/**
 * The three configuration forms, strict: a key nobody reads is an error, not a silent no-op.
 * - tenant form: tenants/<tenant>/tenant.yaml
 * - team form: tenants/<tenant>/teams/<team>.yaml
 * - bundle form: bundle.yaml with tenants > teams > channels inline
 */

/** A string that must be a valid id of `kind`. */
export function idSchema(kind: IdKind) {
  return z.string().superRefine((value, ctx) => {
    try {
      checkId(kind, value, 'config');
    } catch (e) {
      if (!(e instanceof InvalidIdError)) throw e;
      ctx.addIssue({ code: 'custom', message: `invalid ${kind} id ${JSON.stringify(value)}: ${e.reason}` });
    }
  });
}

export const PROVIDERS = ['slack', 'telegram', 'teams', 'webchat'] as const;
export type Provider = (typeof PROVIDERS)[number];

const positiveInt = (max: number) => z.number().int().positive().max(max);

const MiB = 1024 * 1024;

/**
 * What a component's core modules may declare, summed over them. The maximums are what V8
 * itself accepts (or, for byte sizes, 1 GiB): a tenant may loosen a default, never past the engine.
 */
export const ModuleLimitsSchema = z.strictObject({
  /** Size of the component file. */
  bytes: positiveInt(1024 * MiB).optional(),
  core_modules: positiveInt(1000).optional(),
  /** Defined memories (each capped by memory_mib). */
  memories: positiveInt(100).optional(),
  /** Defined tables. */
  tables: positiveInt(100_000).optional(),
  /** Elements per table: written into each table as its maximum. */
  table_elements: positiveInt(10_000_000).optional(),
  globals: positiveInt(1_000_000).optional(),
  /** Exception tags. */
  tags: positiveInt(1_000_000).optional(),
  /** Imported and defined functions. */
  functions: positiveInt(1_000_000).optional(),
  code_bytes: positiveInt(1024 * MiB).optional(),
  data_segments: positiveInt(100_000).optional(),
  data_bytes: positiveInt(1024 * MiB).optional(),
  element_segments: positiveInt(10_000_000).optional(),
  /** Elements in element segments. */
  elements: positiveInt(10_000_000).optional(),
  types: positiveInt(1_000_000).optional(),
  imports: positiveInt(1_000_000).optional(),
  exports: positiveInt(1_000_000).optional(),
  /**
   * V8 heap one instance may take for what its modules declare (estimated). Workers hold up to
   * 32 instances in a 512 MiB heap and budget them by this, so 64 is also the most it may be.
   */
  heap_mib: positiveInt(64).optional(),
});
export type ModuleLimitsConfig = z.infer<typeof ModuleLimitsSchema>;

/** Hard limits a tenant (or one of its environments) places on every component call. */
export const LimitsSchema = z.strictObject({
  /** Wall-clock deadline per component call. */
  deadline_ms: positiveInt(600_000).optional(),
  /** Linear memory cap per instance. */
  memory_mib: positiveInt(4096).optional(),
  /** Node executions per turn, so a routing loop ends. */
  max_steps: positiveInt(10_000).optional(),
  /** Capability calls per component call. */
  max_capability_calls: positiveInt(1_000_000).optional(),
  /** Bytes of one state value. */
  max_state_value_bytes: positiveInt(16 * 1024 * 1024).optional(),
  /** Bytes of replies and sent messages per component call. */
  max_output_bytes: positiveInt(64 * 1024 * 1024).optional(),
  /** Bytes of the strings and lists a guest hands the host in one call. */
  max_value_bytes: positiveInt(32 * MiB).optional(),
  /** Elements of the lists a guest hands the host in one call. */
  max_value_items: positiveInt(1_000_000).optional(),
  /** What a component's core modules may declare. */
  module: ModuleLimitsSchema.optional(),
  /** Replies and sent messages (counted) per component call, and per turn. */
  max_messages: positiveInt(100_000).optional(),
  max_turn_messages: positiveInt(100_000).optional(),
  /** Bytes of replies and sent messages per turn. */
  max_turn_output_bytes: positiveInt(256 * 1024 * 1024).optional(),
  /** Log lines and log bytes (log.write, guest stdout/stderr) per component call, and per turn. */
  max_log_lines: positiveInt(1_000_000).optional(),
  max_log_bytes: positiveInt(64 * 1024 * 1024).optional(),
  max_turn_log_lines: positiveInt(1_000_000).optional(),
  max_turn_log_bytes: positiveInt(256 * 1024 * 1024).optional(),
  /** Keys of a session's working memory, and their bytes together. */
  max_state_keys: positiveInt(100_000).optional(),
  max_state_bytes: positiveInt(256 * 1024 * 1024).optional(),
});
export type LimitsConfig = z.infer<typeof LimitsSchema>;

/** Bounds on a tenant's anonymous webchat traffic (per environment). */
export const WebchatSettingsSchema = z.strictObject({
  /** Messages a second one webchat channel accepts (token bucket). */
  rate_per_sec: positiveInt(1_000_000).optional(),
  burst: positiveInt(1_000_000).optional(),
  /** Messages a second one client address (IPv4, or IPv6 /64) may send to this tenant's channels. */
  address_rate_per_sec: positiveInt(1_000_000).optional(),
  address_burst: positiveInt(1_000_000).optional(),
  /** Client addresses remembered at once; the least recently seen is forgotten first. */
  max_tracked_addresses: positiveInt(1_000_000).optional(),
  /** Webchat sessions with a message in the last session_idle_seconds. */
  max_live_sessions: positiveInt(1_000_000).optional(),
  session_idle_seconds: positiveInt(30 * 86400).optional(),
  /** Bytes the webchat sessions this instance has seen may store (their records, as written). */
  max_stored_bytes: z
    .number()
    .int()
    .positive()
    .max(2 ** 40)
    .optional(),
});
export type WebchatSettingsConfig = z.infer<typeof WebchatSettingsSchema>;

export const SettingsSchema = z.strictObject({
  limits: LimitsSchema.optional(),
  /** Turns of this tenant that may run at once across the worker pool (default: every worker). */
  concurrency: positiveInt(1024).optional(),
  /** Sustained component calls per second for this tenant (token bucket, burst = 2x). */
  rate_per_sec: positiveInt(1_000_000).optional(),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).optional(),
  webchat: WebchatSettingsSchema.optional(),
  /** Where the tenant's guests run: worker threads of the host (default), or its own supervised child processes. Tenant level only. */
  isolation: z.enum(['thread', 'process'], { error: 'expected "thread" or "process"' }).optional(),
});
export type SettingsConfig = z.infer<typeof SettingsSchema>;

export const EnvironmentSchema = z.strictObject({
  name: z.string().min(1).optional(),
  settings: SettingsSchema.refine((s) => s.isolation === undefined, {
    message: "isolation is a tenant-level setting: set it in the tenant's settings, not an environment's",
    path: ['isolation'],
  }).optional(),
});

export const ChannelSchema = z.strictObject({
  provider: z.enum(PROVIDERS),
  /** The flow of this tenant that answers messages on this channel. */
  flow: idSchema('flow'),
  /** Page title of a webchat channel. */
  title: z.string().min(1).max(200).optional(),
});
export type ChannelConfig = z.infer<typeof ChannelSchema>;

const teamBody = {
  name: z.string().min(1).optional(),
  /** Environments the team exists in; all of the tenant's when omitted. */
  environments: z.array(idSchema('env')).min(1).optional(),
  channels: z.record(idSchema('channel'), ChannelSchema),
};

/** Team form: tenants/<tenant>/teams/<team>.yaml. */
export const TeamFileSchema = z.strictObject({ team: idSchema('team'), ...teamBody });
/** A team inline under a tenant. */
export const InlineTeamSchema = z.strictObject(teamBody);
export type TeamBody = z.infer<typeof InlineTeamSchema>;

export const SecretGrantSchema = z.strictObject({
  /** Secrets read from the team's, then the tenant's namespace. */
  names: z.array(idSchema('secret')).optional(),
  /** Secrets the tenant lets this component read from the shared `global/` namespace. */
  global: z.array(idSchema('secret')).optional(),
});

export const ComponentGrantSchema = z.strictObject({
  /** Teams that may use the component; every team when omitted. */
  teams: z.array(idSchema('team')).optional(),
  /** WASI interfaces the tenant lets this component import: "wasi:cli/environment", or a whole package "wasi:cli/*". */
  wasi: z.array(z.string().regex(/^wasi:[a-z-]+\/([a-z-]+|\*)$/, 'expected "wasi:<package>/<interface>" or "wasi:<package>/*"')).optional(),
});

export const GrantsSchema = z.strictObject({
  /** Components the tenant's flows may use, by type name. Nothing else is usable. */
  components: z.record(idSchema('component'), ComponentGrantSchema.nullable()).optional(),
  /** Which secrets each component may read. */
  secrets: z.record(idSchema('component'), SecretGrantSchema).optional(),
});
export type GrantsConfig = z.infer<typeof GrantsSchema>;

/** A tenant component kept outside tenants/<tenant>/components/: a folder with manifest.yaml and the pinned .wasm. */
export const ComponentSourceSchema = z.strictObject({
  /** The component's folder, relative to the bundle root; inside the tenant's folder or the shared components folder. */
  path: z.string().min(1),
});

/** One key that verifies this tenant's API tokens. */
export const ApiKeySchema = z.discriminatedUnion('alg', [
  z.strictObject({
    alg: z.literal('HS256'),
    kid: z.string().min(1).max(100).optional(),
    /** Name of a secret in the tenant's namespace holding the shared signing key. */
    secret: idSchema('secret'),
  }),
  z.strictObject({
    alg: z.enum(['EdDSA', 'RS256', 'ES256']),
    kid: z.string().min(1).max(100).optional(),
    /** PEM (SPKI) public key file, relative to the bundle root; inside the tenant's folder. */
    public_key_file: z.string().min(1),
  }),
]);
export type ApiKeyConfig = z.infer<typeof ApiKeySchema>;

/** How the REST API authenticates this tenant's callers. */
export const ApiSchema = z.strictObject({
  issuer: z.string().min(1).max(200).default('greentic-host'),
  audience: z.string().min(1).max(200).default('greentic-api'),
  keys: z.array(ApiKeySchema).min(1),
});
export type ApiConfig = z.infer<typeof ApiSchema>;

const tenantBody = {
  name: z.string().min(1).optional(),
  environments: z.record(idSchema('env'), EnvironmentSchema.nullable()),
  settings: SettingsSchema.optional(),
  grants: GrantsSchema.optional(),
  /** The tenant's own components found elsewhere than tenants/<tenant>/components/<name>/. */
  components: z.record(idSchema('component'), ComponentSourceSchema).optional(),
  /** REST API keys; a tenant without them has no API access. */
  api: ApiSchema.optional(),
};

/** Tenant form: tenants/<tenant>/tenant.yaml (teams may also live in teams/*.yaml). */
export const TenantFileSchema = z.strictObject({
  tenant: idSchema('tenant'),
  ...tenantBody,
  teams: z.record(idSchema('team'), InlineTeamSchema).optional(),
});

/** A tenant inline in bundle.yaml. */
export const InlineTenantSchema = z.strictObject({
  ...tenantBody,
  teams: z.record(idSchema('team'), InlineTeamSchema).optional(),
});
export type TenantBody = z.infer<typeof InlineTenantSchema>;

/** Bundle form: bundle.yaml at the root of a bundle directory. */
export const BundleFileSchema = z.strictObject({
  workspace: idSchema('workspace'),
  /**
   * A folder of components the operator shares (relative to the bundle root): a tenant's
   * `components.<name>.path` may point into it as well as into the tenant's own folder.
   */
  shared_components: z.string().min(1).optional(),
  /** Tenants defined inline; others come from tenants/<id>/tenant.yaml. */
  tenants: z.record(idSchema('tenant'), InlineTenantSchema).optional(),
});
