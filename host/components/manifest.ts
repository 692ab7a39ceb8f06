import { z } from 'zod';
import { idSchema } from '../tenancy/config/schema.js';
import { zodProblems, type ConfigProblem } from '../tenancy/config/problems.js';

/**
 * What a component asks for. Nothing in here is granted by itself: the effective
 * permission is this request AND the tenant's grant, computed when the tenant loads.
 */
export const ManifestSchema = z.strictObject({
  name: idSchema('component'),
  version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'expected a semantic version like 1.2.3'),
  summary: z.string().min(1).max(300).optional(),
  /** Source the build compiles (relative to the manifest): a .js module or a .wat core module. */
  source: z.string().min(1).optional(),
  /** The WIT world the source targets (build only); greentic:host/node-component by default. */
  world: z.string().min(1).optional(),
  /** A WIT directory of the component's own (build only, relative to the manifest); the project's wit/ by default. */
  wit: z.string().min(1).optional(),
  /**
   * WASI features componentize-js keeps for a JS source (build only); all are off by default. The
   * component then imports their interfaces (stdio: wasi:cli/*, wasi:io/*, wasi:filesystem/*),
   * which capabilities.wasi must request.
   */
  wasi_features: z.array(z.enum(['stdio', 'random', 'clocks'])).optional(),
  /** A prebuilt component (relative to the manifest), for components built elsewhere. */
  wasm: z.string().min(1).optional(),
  /** Pinned sha256 of the component bytes (hex); required for tenant-supplied components. */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits')
    .optional(),
  capabilities: z
    .strictObject({
      /** Session working memory: read, or read and write. */
      state: z.enum(['none', 'read', 'write']).default('none'),
      /** Send messages to channels of the bound team. */
      messaging: z.boolean().default(false),
      log: z.boolean().default(false),
      /** Names of secrets the component may ask for. */
      secrets: z.array(idSchema('secret')).default([]),
      /** Outgoing HTTP through greentic:http/http-client (Greentic components); the tenant grants the origins (grants.components.<name>.http). */
      http: z.boolean().default(false),
      /** WASI interfaces the component imports ("wasi:cli/environment"); each also needs a tenant grant. */
      wasi: z.array(z.string().regex(/^wasi:[a-z-]+\/[a-z-]+$/, 'expected "wasi:<package>/<interface>"')).default([]),
    })
    .prefault({}),
  limits: z
    .strictObject({
      deadline_ms: z.number().int().positive().max(600_000).optional(),
      memory_mib: z.number().int().positive().max(4096).optional(),
    })
    .prefault({}),
  /** JSON Schema of the node's `config` in a flow; checked when the flow loads. */
  config_schema: z.record(z.string(), z.unknown()).optional(),
});

export type ComponentManifest = z.infer<typeof ManifestSchema>;
export type ManifestCapabilities = ComponentManifest['capabilities'];

/** Validate a parsed manifest; problems name `file` and the path inside it. */
export function parseManifest(data: unknown, file: string): { ok: true; manifest: ComponentManifest } | { ok: false; problems: ConfigProblem[] } {
  const r = ManifestSchema.safeParse(data);
  if (!r.success) return { ok: false, problems: zodProblems(file, r.error.issues) };
  if (r.data.config_schema) {
    try {
      z.fromJSONSchema(r.data.config_schema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (e) {
      return { ok: false, problems: [{ file, path: 'config_schema', message: `not a usable JSON Schema: ${(e as Error).message}` }] };
    }
  }
  return { ok: true, manifest: r.data };
}
