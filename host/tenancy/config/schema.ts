import { z } from 'zod';
import { EgressSettingsSchema } from '../../messaging/egress/egress-settings.js';
import { parseHttpRule } from '../../capabilities/http-client/allow-list.js';
import { checkId, type IdKind, InvalidIdError } from '../ids.js';
import { SessionsSettingsSchema } from './sessions-schema.js';
import { LanguageSchema, TimezoneSchema } from './locale.js';

/**
 * The parts of a tenant's configuration every form shares (settings, limits, grants, API keys),
 * strict: a key nobody reads is an error, not a silent no-op. The three forms themselves are in
 * forms.ts.
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
  /** A Greentic component's HTTP requests per component call, the timeout of one, body bytes (request and response; the bridge carries at most 512 KiB), requests a second. */
  max_http_requests: positiveInt(1000).optional(),
  http_timeout_ms: positiveInt(600_000).optional(),
  max_http_body_bytes: positiveInt(512 * 1024).optional(),
  http_rate_per_sec: positiveInt(100_000).optional(),
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
  /** The tenant's (or environment's) IANA time zone, told to every component call. */
  timezone: TimezoneSchema.optional(),
  /** Its BCP 47 language tag, told to every component call. */
  language: LanguageSchema.optional(),
  limits: LimitsSchema.optional(),
  /** Turns of this tenant that may run at once across the worker pool (default: every worker). */
  concurrency: positiveInt(1024).optional(),
  /** Sustained component calls per second for this tenant (token bucket, burst = 2x). */
  rate_per_sec: positiveInt(1_000_000).optional(),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).optional(),
  webchat: WebchatSettingsSchema.optional(),
  /** Session expiry and what is kept of a conversation (sessions-schema.ts). */
  sessions: SessionsSettingsSchema.optional(),
  /** Outbound rate limits, concurrency and retries of replies to providers. */
  egress: EgressSettingsSchema.optional(),
  /** Where the tenant's guests run: worker threads of the host (default), or its own supervised child processes. Tenant level only. */
  isolation: z.enum(['thread', 'process'], { error: 'expected "thread" or "process"' }).optional(),
});
export type SettingsConfig = z.infer<typeof SettingsSchema>;

export const SecretGrantSchema = z.strictObject({
  /** Secrets read from the team's, then the tenant's namespace. */
  names: z.array(idSchema('secret')).optional(),
  /** Secrets the tenant lets this component read from the shared `global/` namespace. */
  global: z.array(idSchema('secret')).optional(),
  /** Secrets it may write (a Greentic component's secrets-store put), into the team's (else the tenant's) namespace. */
  write: z.array(idSchema('secret')).optional(),
});

/** One origin of grants.components.<name>.http: "scheme://host[:port]", or { origin, private_network } to let a name resolve to private addresses. */
const HttpGrantEntrySchema = z
  .union([z.string(), z.strictObject({ origin: z.string(), private_network: z.boolean().optional() })])
  .superRefine((entry, ctx) => {
    const rule = parseHttpRule(entry);
    if (typeof rule === 'string') ctx.addIssue({ code: 'custom', message: rule });
  });

export const ComponentGrantSchema = z.strictObject({
  /** Teams that may use the component; every team when omitted. */
  teams: z.array(idSchema('team')).optional(),
  /** WASI interfaces the tenant lets this component import: "wasi:cli/environment", or a whole package "wasi:cli/*". */
  wasi: z.array(z.string().regex(/^wasi:[a-z-]+\/([a-z-]+|\*)$/, 'expected "wasi:<package>/<interface>" or "wasi:<package>/*"')).optional(),
  /** Origins a Greentic component may send HTTP requests to: "https://api.example.com", "https://*.example.com", "http://10.0.0.5:8080". */
  http: z.array(HttpGrantEntrySchema).max(1000).optional(),
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

/**
 * A Greentic pack the tenant deploys: its file (relative to the tenant's folder), or that and
 * the type names its components are granted by (pack component id -> name; default: the last
 * dot-separated part of the id), the public keys its signature must be by, and whether it must
 * be signed.
 */
export const PackSourceSchema = z.union([
  z.string().min(1).max(1024),
  z.strictObject({
    file: z.string().min(1).max(1024),
    components: z.record(z.string().min(1).max(512), idSchema('component')).optional(),
    trust: z.array(z.string().min(1).max(1024)).max(100).optional(),
    require_signed: z.boolean().optional(),
  }),
]);
export const PacksSchema = z.array(PackSourceSchema).max(100);

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
