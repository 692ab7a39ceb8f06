import { z } from 'zod';
import type { ComponentManifest } from '../components/manifest.js';
import { zodProblems, type ConfigProblem } from '../tenancy/config/problems.js';
import { isValidId, whyInvalid } from '../tenancy/ids.js';
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
const SecretRequirementSchema = z.strictObject({
  key: z.string().min(1),
  required: z.boolean().optional(),
  description: z.string().optional(),
  scope: z.record(z.string(), z.unknown()).optional(),
  format: z.enum(['bytes', 'text', 'json']).optional(),
  schema: z.record(z.string(), z.unknown()).optional(),
  examples: z.array(z.string()).optional(),
});

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
  id: z.string().min(1),
  name: z.string().min(1),
  version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'expected a semantic version like 1.2.3'),
  world: z.string().min(1).optional(),
  describe_export: z.string().min(1).optional(),
  config_schema: z.record(z.string(), z.unknown()).optional(),
  operations: z.array(z.looseObject({ name: z.string().regex(/^[a-z][a-z0-9_.:-]*$/, 'expected an operation name like "handle_message"') })).default([]),
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
const DESCRIPTIVE = new Set(['$schema', 'supports', 'profiles', 'configurators', 'telemetry', 'provenance', 'artifacts', 'hashes', 'dev_flows']);

/** What the Greentic manifest says beyond our manifest's fields, for the flow loader and the CLI. */
export interface GreenticManifestInfo {
  /** Greentic's own identifier ("ai.greentic.component-slot-extractor"). */
  readonly id: string;
  /** Greentic's name of the component (descriptive: the flow type is the folder name). */
  readonly name: string;
  /** Operation names the manifest lists; a node's config.op must be one of them when any are listed. */
  readonly operations: readonly string[];
  readonly defaultOperation: string | undefined;
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
    ['capabilities.host.http.client', host.http?.client, 'outgoing HTTP'],
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
    ...(host.secrets?.required ?? []).map((s, i) => [`capabilities.host.secrets.required[${i}].key`, s.key] as const),
    ...m.secret_requirements.map((s, i) => [`secret_requirements[${i}].key`, s.key] as const),
  ];
  for (const [path, key] of requirements) {
    if (!isValidId(key)) problem(path, `secret ${JSON.stringify(key)} cannot be served here: ${whyInvalid('secret', key)}`);
    else if (!secrets.includes(key)) secrets.push(key);
  }

  const operations = m.operations.map((o) => o.name);
  if (m.default_operation !== undefined && operations.length > 0 && !operations.includes(m.default_operation)) {
    problem('default_operation', `"${m.default_operation}" is not one of the operations (${operations.join(', ')})`);
  }
  if (m.limits?.fuel !== undefined) notes.push('limits.fuel: calls are bounded by wall_time_ms here, not by fuel');
  if (m.limits?.files !== undefined) notes.push('limits.files: components open no files here');
  if (m.config_schema) {
    try {
      z.fromJSONSchema(m.config_schema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (e) {
      problem('config_schema', `not a usable JSON Schema: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  const state = host.state?.write || host.state?.delete ? 'write' : host.state?.read ? 'read' : 'none';
  const manifest: ComponentManifest = {
    name,
    version: m.version,
    wasm: artifact?.wasm,
    sha256: artifact?.sha256,
    capabilities: {
      state,
      messaging: host.messaging?.outbound ?? false,
      log: host.telemetry !== undefined,
      secrets,
      wasi: [...GREENTIC_WASI_BASELINE, ...(wasi.clocks ? GREENTIC_WASI_CLOCKS : []), ...(wasi.random ? GREENTIC_WASI_RANDOM : [])],
    },
    limits: {
      deadline_ms: m.limits && Math.min(m.limits.wall_time_ms, 600_000),
      memory_mib: m.limits && Math.min(m.limits.memory_mb, 4096),
    },
    config_schema: m.config_schema,
  };
  return { ok: true, manifest, greentic: { id: m.id, name: m.name, operations, defaultOperation: m.default_operation, notes } };
}

/** The Greentic runner's defaults for a component that comes without a manifest: the WASI baseline, nothing else. */
export function defaultGreenticManifest(name: string): ComponentManifest {
  return {
    name,
    version: '0.0.0',
    capabilities: { state: 'none', messaging: false, log: false, secrets: [], wasi: [...GREENTIC_WASI_BASELINE] },
    limits: {},
  };
}
