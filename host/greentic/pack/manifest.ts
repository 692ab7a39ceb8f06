import { z } from 'zod';
import { joinPath } from '../../tenancy/config/problems.js';
import { PackError } from './archive.js';

/**
 * A pack's manifest.cbor (greentic-types PackManifest, `schema_version: "pack-v1"`), validated and
 * with its interned symbols resolved: Greentic writes a component, node, capability or pack id
 * either as text or as an index into `symbols.*`; each index is bounds-checked here, so the rest
 * of the host only sees text. Strict where the host acts on a field (flows, components,
 * capabilities, signatures); descriptive fields pass as they are.
 */

const MAX_ITEMS = 10_000;
const text = z.string().min(1).max(1024);
/** Text, or an index into one of `symbols`. */
const symbol = z.union([text, z.number().int().min(0)]);
const list = <T extends z.ZodType>(item: T) => z.array(item).max(MAX_ITEMS);

const RoutingSchema = z.union([z.literal('End'), z.strictObject({ Next: z.strictObject({ node_id: symbol }) })]);

const FlowNodeSchema = z.strictObject({
  id: symbol,
  component: z.strictObject({ id: symbol, pack_alias: z.string().nullable().optional(), operation: z.string().min(1).max(200).nullable().optional() }),
  input: z.strictObject({ mapping: z.unknown() }).optional(),
  output: z.strictObject({ mapping: z.unknown() }).optional(),
  routing: RoutingSchema,
  telemetry: z.unknown().optional(),
});

const FlowSchema = z.strictObject({
  schema_version: z.literal('flow-v1'),
  id: text,
  kind: text,
  entrypoints: z.record(z.string().max(200), symbol),
  nodes: list(FlowNodeSchema),
  metadata: z.unknown().optional(),
});

const PackManifestSchema = z.strictObject({
  schema_version: z.literal('pack-v1', { message: 'expected "pack-v1" (the manifest of a pack built by greentic-pack)' }),
  pack_id: symbol,
  version: text,
  kind: text,
  publisher: text,
  symbols: z
    .looseObject({
      component_ids: list(text).default([]),
      node_ids: list(text).default([]),
      capability_names: list(text).default([]),
      pack_ids: list(text).default([]),
    })
    .prefault({}),
  components: list(z.looseObject({ id: symbol })).default([]),
  flows: list(
    z.strictObject({ id: text, kind: text, flow: FlowSchema, tags: list(z.string()).default([]), entrypoints: list(z.string()).default([]) }),
  ).default([]),
  dependencies: list(z.unknown()).default([]),
  capabilities: list(z.strictObject({ name: symbol, description: z.string().nullable().optional() })).default([]),
  signatures: z.strictObject({ signatures: list(z.unknown()).default([]) }).prefault({}),
  extensions: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** One node of a compiled flow: the component call it makes and where it goes next. */
export interface PackFlowNode {
  readonly id: string;
  readonly component: string;
  readonly operation: string | undefined;
  /** The op's input mapping (templates such as "{{in.text}}"), undefined when the node has none. */
  readonly mapping: unknown;
  /** The next node, or undefined: the run ends. */
  readonly next: string | undefined;
}

export interface PackFlow {
  readonly id: string;
  readonly kind: string;
  /** Entrypoint name -> node id. */
  readonly entrypoints: ReadonlyMap<string, string>;
  readonly nodes: readonly PackFlowNode[];
}

/** A component the manifest declares: its id and the rest of its entry (a Greentic component manifest). */
export interface PackComponentDecl {
  readonly id: string;
  readonly declaration: Record<string, unknown>;
}

/** Where a component's own manifest file is in the pack, and its sha256 (extension greentic.pack.component_manifests@v1). */
export interface PackComponentManifestRef {
  readonly componentId: string;
  readonly file: string;
  readonly sha256: string;
}

export interface PackManifest {
  readonly packId: string;
  readonly version: string;
  readonly kind: string;
  readonly publisher: string;
  readonly components: readonly PackComponentDecl[];
  readonly flows: readonly PackFlow[];
  /** Capability names the pack requests (host:messaging, wasi:clocks, ...). */
  readonly capabilities: readonly string[];
  readonly dependencies: readonly unknown[];
  /** Entries of `signatures.signatures` (in-manifest signatures). */
  readonly inlineSignatures: number;
  readonly componentManifests: readonly PackComponentManifestRef[];
}

const ComponentManifestsSchema = z.strictObject({
  kind: z.literal('greentic.pack.component_manifests@v1'),
  version: z.string(),
  inline: z.strictObject({
    schema_version: z.literal(1),
    entries: list(
      z.strictObject({
        component_id: text,
        content_hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:" and 64 lower-case hex digits'),
        encoding: z.literal('cbor'),
        manifest_file: text,
      }),
    ),
  }),
});

/** Validate a decoded manifest.cbor; throws PackError naming `where` and the path of the first problem. */
export function parsePackManifest(value: unknown, where: string): PackManifest {
  const fail = (path: PropertyKey[], why: string): never => {
    throw new PackError(`${where}: ${path.length > 0 ? `${joinPath(path)}: ` : ''}${why}`);
  };
  const r = PackManifestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    return fail(path, issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message);
  }
  const m = r.data;
  const resolve = (v: string | number, table: readonly string[], tableName: string, path: PropertyKey[]): string => {
    if (typeof v === 'string') return v;
    const hit = table[v];
    return hit ?? fail(path, `symbol ${v} is not in symbols.${tableName} (${table.length} entries)`);
  };
  const s = m.symbols;
  const components = m.components.map((c, i) => {
    const id = resolve(c.id, s.component_ids, 'component_ids', ['components', i, 'id']);
    return { id, declaration: { ...c, id } };
  });
  const ids = new Set<string>();
  components.forEach((c, i) => {
    if (ids.has(c.id)) fail(['components', i, 'id'], `component "${c.id}" is declared twice`);
    ids.add(c.id);
  });
  const flowIds = new Set<string>();
  const flows = m.flows.map((f, i): PackFlow => {
    const at = ['flows', i];
    if (f.flow.id !== f.id) fail([...at, 'flow', 'id'], `says "${f.flow.id}" but the entry is flow "${f.id}"`);
    if (flowIds.has(f.id)) fail([...at, 'id'], `flow "${f.id}" is listed twice`);
    flowIds.add(f.id);
    const nodes = f.flow.nodes.map((n, j): PackFlowNode => {
      const nat = [...at, 'flow', 'nodes', j];
      const component = resolve(n.component.id, s.component_ids, 'component_ids', [...nat, 'component', 'id']);
      if (!ids.has(component)) fail([...nat, 'component', 'id'], `component "${component}" is not one of the pack's components`);
      const mapping = n.input?.mapping;
      const empty = mapping === undefined || mapping === null || (typeof mapping === 'object' && Object.keys(mapping).length === 0);
      return {
        id: resolve(n.id, s.node_ids, 'node_ids', [...nat, 'id']),
        component,
        operation: n.component.operation ?? undefined,
        mapping: empty ? undefined : mapping,
        next: n.routing === 'End' ? undefined : resolve(n.routing.Next.node_id, s.node_ids, 'node_ids', [...nat, 'routing', 'Next', 'node_id']),
      };
    });
    const nodeIds = new Set<string>();
    nodes.forEach((n, j) => {
      if (nodeIds.has(n.id)) fail([...at, 'flow', 'nodes', j, 'id'], `node "${n.id}" is defined twice`);
      nodeIds.add(n.id);
    });
    nodes.forEach((n, j) => {
      if (n.next !== undefined && !nodeIds.has(n.next)) fail([...at, 'flow', 'nodes', j, 'routing'], `no node "${n.next}" in flow "${f.id}"`);
    });
    const entrypoints = new Map<string, string>();
    for (const [name, node] of Object.entries(f.flow.entrypoints)) {
      const id = resolve(node, s.node_ids, 'node_ids', [...at, 'flow', 'entrypoints', name]);
      if (!nodeIds.has(id)) fail([...at, 'flow', 'entrypoints', name], `no node "${id}" in flow "${f.id}"`);
      entrypoints.set(name, id);
    }
    return { id: f.id, kind: f.kind, entrypoints, nodes };
  });
  const capabilities = m.capabilities.map((c, i) => resolve(c.name, s.capability_names, 'capability_names', ['capabilities', i, 'name']));
  let componentManifests: PackComponentManifestRef[] = [];
  const ext = m.extensions ?? {};
  if (Object.hasOwn(ext, 'greentic.pack.component_manifests@v1')) {
    const e = ComponentManifestsSchema.safeParse(ext['greentic.pack.component_manifests@v1']);
    if (!e.success) fail(['extensions', 'greentic.pack.component_manifests@v1', ...e.error.issues[0]!.path], e.error.issues[0]!.message);
    else
      componentManifests = e.data.inline.entries.map((x) => ({
        componentId: x.component_id,
        file: x.manifest_file,
        sha256: x.content_hash.slice('sha256:'.length),
      }));
  }
  return {
    packId: resolve(m.pack_id, s.pack_ids, 'pack_ids', ['pack_id']),
    version: m.version,
    kind: m.kind,
    publisher: m.publisher,
    components,
    flows,
    capabilities,
    dependencies: m.dependencies,
    inlineSignatures: m.signatures.signatures.length,
    componentManifests,
  };
}
