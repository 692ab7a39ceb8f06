import { z } from 'zod';
import type { ComponentManifest } from '../components/manifest.js';
import { zodProblems, type ConfigProblem } from '../tenancy/config/problems.js';
import { whyInvalid } from '../tenancy/ids.js';
import { secretNameOf } from '../capabilities/secrets-store/host.js';
import { SchemaChecks } from './op-schema.js';
import { GREENTIC_WASI_BASELINE, GREENTIC_WASI_CLOCKS, GREENTIC_WASI_RANDOM } from './contract.js';

/**
 * Greentic's component manifest (component.manifest.json, schema
 * greentic-component/schemas/v1/component.manifest.schema.json) mapped onto ours, so the same
 * rule holds: what the manifest asks for AND what the tenant grants, nothing else.
 *
 * Strict where a field grants or limits something (capabilities, limits): an unknown key or a
 * capability this host cannot give is a problem, and the component does not load. Tolerant of
 * descriptive fields (supports, profiles, provenance, ...): unknown ones become notes.
 */

const flag = z.boolean().default(false);
/** A secret the component reads: `key` (component manifests) or `name` (provider manifests: SLACK_BOT_TOKEN). */
const SecretRequirementSchema = z
  .strictObject({
    key: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
    required: z.boolean().optional(),
    description: z.string().optional(),
    scope: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    format: z.enum(['bytes', 'text', 'json']).optional(),
    schema: z.record(z.string(), z.unknown()).optional(),
    examples: z.array(z.string()).optional(),
  })
  .refine((s) => s.key !== undefined || s.name !== undefined, 'a secret requirement names its key (key or name)');

const CapabilitiesSchema = z.strictObject({
  wasi: z
    .strictObject({
      filesystem: z
        .strictObject({
          mode: z.enum(['none', 'read_only', 'sandbox']),
          mounts: z.array(z.strictObject({ name: z.string().min(1), host_class: z.string().min(1), guest_path: z.string().min(1) })).default([]),
        })
        .optional(),
      env: z.strictObject({ allow: z.array(z.string().min(1)).default([]) }).optional(),
      random: flag,
      clocks: flag,
    })
    .prefault({}),
  host: z
    .strictObject({
      secrets: z.strictObject({ required: z.array(SecretRequirementSchema).default([]) }).optional(),
      state: z.strictObject({ read: flag, write: flag, delete: flag }).optional(),
      messaging: z.strictObject({ inbound: flag, outbound: flag }).optional(),
      events: z.strictObject({ inbound: flag, outbound: flag }).optional(),
      http: z.strictObject({ client: flag, server: flag }).optional(),
      telemetry: z.strictObject({ scope: z.enum(['tenant', 'pack', 'node']) }).optional(),
      iac: z.strictObject({ write_templates: flag, execute_plans: flag }).optional(),
    })
    .prefault({}),
});

const GreenticManifestSchema = z.looseObject({
  id: z.string().min(1).optional(),
  name: z.string().min(1),
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'expected a semantic version like 1.2.3')
    .optional(),
  description: z.string().optional(),
  world: z.string().min(1).optional(),
  describe_export: z.string().min(1).optional(),
  config_schema: z.record(z.string(), z.unknown()).optional(),
  operations: z
    .array(
      z.looseObject({
        name: z.string().regex(/^[a-z][a-z0-9_.:-]*$/, 'expected an operation name like "handle_message"'),
        input_schema: z.union([z.record(z.string(), z.unknown()), z.boolean()]).optional(),
      }),
    )
    .default([]),
  default_operation: z.string().min(1).optional(),
  capabilities: CapabilitiesSchema.prefault({}),
  secret_requirements: z.array(SecretRequirementSchema).default([]),
  limits: z
    .strictObject({
      memory_mb: z.number().int().min(1),
      wall_time_ms: z.number().int().min(1),
      fuel: z.number().int().min(0).optional(),
      files: z.number().int().min(0).optional(),
    })
    .optional(),
});

/** Top-level fields of the Greentic schema that describe the component and grant nothing. */
const DESCRIPTIVE = new Set(['$schema', 'supports', 'profiles', 'configurators', 'telemetry', 'provenance', 'artifacts', 'hashes', 'dev_flows', 'resources']);

/** What the Greentic manifest says beyond our manifest's fields, for the flow loader and the CLI. */
export interface GreenticManifestInfo {
  /** Greentic's own identifier ("ai.greentic.component-slot-extractor"). */
  readonly id: string;
  /** Greentic's name of the component (descriptive: the flow type is the folder name). */
  readonly name: string;
  /** Operation names the manifest lists; a node's config.op must be one of them when any are listed. */
  readonly operations: readonly string[];
  readonly defaultOperation: string | undefined;
  /** The JSON Schema of each op's input the manifest declares (op name -> schema), checked before a call. */
  readonly inputSchemas: ReadonlyMap<string, unknown>;
  /**
   * False for a manifest with no `capabilities` at all (Greentic's provider manifests): the host
   * interfaces its binary imports count as asked for, and the tenant's grants alone decide.
   */
  readonly capabilitiesDeclared: boolean;
  /** hashes.component_wasm when it is a BLAKE3 digest (64 hex digits, not the all-zero placeholder): the bytes must have it. */
  readonly blake3: string | undefined;
  /** What was read but does not change anything here, one sentence each. */
  readonly notes: readonly string[];
}

export type GreenticManifestResult = { ok: true; manifest: ComponentManifest; greentic: GreenticManifestInfo } | { ok: false; problems: ConfigProblem[] };

/** Where the component's bytes are and their pin; the Greentic manifest does not say it in our terms. */
export interface GreenticArtifact {
  readonly wasm: string;
  readonly sha256: string | undefined;
}

/**
 * Map a parsed component.manifest.json onto our manifest. `name` is the flow type (the folder
 * name, or the CLI's choice); problems name `file` and the path inside it.
 */
export function mapGreenticManifest(data: unknown, file: string, name: string, artifact?: GreenticArtifact): GreenticManifestResult {
  const r = GreenticManifestSchema.safeParse(data);
  if (!r.success) return { ok: false, problems: zodProblems(file, r.error.issues) };
  const m = r.data;
  const problems: ConfigProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ file, path, message });
  const notes: string[] = [];
  const { wasi, host } = m.capabilities;
  const declared = Object.hasOwn(data as object, 'capabilities');
  if (!declared)
    notes.push('declares no capabilities (a provider manifest): the host interfaces it imports are asked for, and the tenant grants what they reach');

  for (const key of Object.keys(m)) {
    if (!Object.hasOwn(GreenticManifestSchema.shape, key) && !DESCRIPTIVE.has(key)) notes.push(`ignored unknown field "${key}"`);
  }
  if (wasi.filesystem && wasi.filesystem.mounts.length > 0) {
    problem('capabilities.wasi.filesystem.mounts', 'greentic-host preopens no directories for components; remove the mounts (mode "none")');
  } else if (wasi.filesystem && wasi.filesystem.mode !== 'none') {
    notes.push(`capabilities.wasi.filesystem.mode "${wasi.filesystem.mode}" without mounts: the component sees no directories`);
  }
  if (wasi.env && wasi.env.allow.length > 0) {
    notes.push(
      `capabilities.wasi.env.allow (${wasi.env.allow.join(', ')}): greentic-host passes no environment variables; the component sees an empty environment`,
    );
  }
  const unavailable: Array<[string, boolean | undefined, string]> = [
    ['capabilities.host.http.server', host.http?.server, 'an HTTP server'],
    ['capabilities.host.events.inbound', host.events?.inbound, 'events'],
    ['capabilities.host.events.outbound', host.events?.outbound, 'events'],
    ['capabilities.host.iac.write_templates', host.iac?.write_templates, 'infrastructure-as-code'],
    ['capabilities.host.iac.execute_plans', host.iac?.execute_plans, 'infrastructure-as-code'],
  ];
  for (const [path, wanted, what] of unavailable) {
    if (wanted) problem(path, `greentic-host does not provide ${what} to components; the component cannot run here`);
  }

  const secrets: string[] = [];
  const requirements = [
    ...(host.secrets?.required ?? []).map(
      (s, i) => [`capabilities.host.secrets.required[${i}].${s.key !== undefined ? 'key' : 'name'}`, s.key ?? s.name!] as const,
    ),
    ...m.secret_requirements.map((s, i) => [`secret_requirements[${i}].${s.key !== undefined ? 'key' : 'name'}`, s.key ?? s.name!] as const),
  ];
  for (const [path, key] of requirements) {
    const name = secretNameOf(key);
    if (name === undefined)
      problem(path, `secret ${JSON.stringify(key)} cannot be served here: ${whyInvalid('secret', key)} (or the same in upper case, as SLACK_BOT_TOKEN)`);
    else if (!secrets.includes(name)) secrets.push(name);
  }

  const operations = m.operations.map((o) => o.name);
  if (m.default_operation !== undefined && operations.length > 0 && !operations.includes(m.default_operation)) {
    problem('default_operation', `"${m.default_operation}" is not one of the operations (${operations.join(', ')})`);
  }
  if (m.limits?.fuel !== undefined) notes.push('limits.fuel: calls are bounded by wall_time_ms here, not by fuel');
  if (m.limits?.files !== undefined) notes.push('limits.files: components open no files here');
  let configSchema = m.config_schema;
  if (configSchema && isProviderConfigRef(configSchema)) {
    notes.push(
      `config_schema.provider_config names a schema file (${String((configSchema.provider_config as { path?: unknown }).path)}) that is not part of the component; node config is not checked against it`,
    );
    configSchema = undefined;
  } else if (configSchema) {
    try {
      z.fromJSONSchema(configSchema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (e) {
      problem('config_schema', `not a usable JSON Schema: ${(e as Error).message}`);
    }
  }
  const inputSchemas = new Map<string, unknown>();
  const checks = new SchemaChecks();
  m.operations.forEach((o, i) => {
    if (o.input_schema === undefined) return;
    const check = checks.of(o.input_schema);
    if (check.ok) inputSchemas.set(o.name, o.input_schema);
    else notes.push(`operations[${i}].input_schema: ${check.why}; the input of op "${o.name}" is checked against the component's own schema only`);
  });
  const blake3 = blake3Of(m.hashes, notes);
  if (problems.length > 0) return { ok: false, problems };

  const state = host.state?.write || host.state?.delete ? 'write' : host.state?.read ? 'read' : 'none';
  if (m.version === undefined) notes.push('no version: taken as 0.0.0');
  const manifest: ComponentManifest = {
    name,
    version: m.version ?? '0.0.0',
    wasm: artifact?.wasm,
    sha256: artifact?.sha256,
    capabilities: {
      state,
      messaging: host.messaging?.outbound ?? false,
      log: host.telemetry !== undefined,
      secrets,
      http: host.http?.client ?? !declared,
      wasi: [...GREENTIC_WASI_BASELINE, ...(wasi.clocks ? GREENTIC_WASI_CLOCKS : []), ...(wasi.random ? GREENTIC_WASI_RANDOM : [])],
    },
    limits: {
      deadline_ms: m.limits && Math.min(m.limits.wall_time_ms, 600_000),
      memory_mib: m.limits && Math.min(m.limits.memory_mb, 4096),
    },
    config_schema: configSchema,
  };
  return {
    ok: true,
    manifest,
    greentic: {
      id: m.id ?? m.name,
      name: m.name,
      operations,
      defaultOperation: m.default_operation,
      inputSchemas,
      blake3,
      capabilitiesDeclared: declared,
      notes,
    },
  };
}

/** A provider manifest's `config_schema: { provider_config: { format, path } }`: a reference to a schema file, not a schema. */
function isProviderConfigRef(schema: Record<string, unknown>): boolean {
  const keys = Object.keys(schema);
  return keys.length === 1 && keys[0] === 'provider_config' && typeof schema.provider_config === 'object' && schema.provider_config !== null;
}

/** The BLAKE3 digest hashes.component_wasm pins, if it pins one; other forms and the all-zero placeholder are notes. */
function blake3Of(hashes: unknown, notes: string[]): string | undefined {
  const h = typeof hashes === 'object' && hashes !== null ? (hashes as Record<string, unknown>).component_wasm : undefined;
  if (h === undefined) return undefined;
  const m = typeof h === 'string' ? /^blake3:([0-9a-f]{64})$/.exec(h) : null;
  if (!m) {
    notes.push(`hashes.component_wasm ${JSON.stringify(String(h).slice(0, 80))} is not "blake3:" and 64 hex digits; not checked`);
    return undefined;
  }
  if (/^0+$/.test(m[1]!)) {
    notes.push('hashes.component_wasm is the all-zero placeholder; not checked');
    return undefined;
  }
  return m[1];
}

/** The Greentic runner's defaults for a component that comes without a manifest: the WASI baseline, nothing else. */
export function defaultGreenticManifest(name: string): ComponentManifest {
  return {
    name,
    version: '0.0.0',
    capabilities: { state: 'none', messaging: false, log: false, secrets: [], http: false, wasi: [...GREENTIC_WASI_BASELINE] },
    limits: {},
  };
}
