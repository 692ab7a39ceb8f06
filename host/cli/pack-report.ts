import type { OpenedPack } from '../greentic/pack/open-pack.js';
import { packTypeName } from '../greentic/pack/type-names.js';

/**
 * What `pack inspect` shows of a pack's capability requests: per component, what its manifest
 * asks for and the tenant config keys that grant it. Nothing a pack asks for is granted by the
 * pack itself.
 */

/** The requests of one component, as config keys of the type name it would have by default. */
function requests(c: OpenedPack['components'][number]): { type: string; asks: string[] } {
  const named = packTypeName(c.id, new Map());
  const type = named.ok ? named.name : '<name it in packs[].components>';
  if (!c.mapped.ok) return { type, asks: c.mapped.problems.map((p) => `cannot run here: ${p.path ? `${p.path}: ` : ''}${p.message}`) };
  const caps = c.mapped.manifest.capabilities;
  const asks = [`use (grants.components.${type})`];
  if (caps.http) asks.push(`outgoing HTTP (grants.components.${type}.http: origins)`);
  for (const s of caps.secrets) asks.push(`secret "${s}" (grants.secrets.${type}.names)`);
  if (caps.wasi.length > 0) asks.push(`WASI ${caps.wasi.join(', ')} (grants.components.${type}.wasi)`);
  if (caps.state !== 'none') asks.push(`session state: ${caps.state}`);
  if (caps.messaging) asks.push('messaging: sends to its channel');
  return { type, asks };
}

/** Lines listing the pack's requested capabilities and what a tenant grants them with. */
export function packCapabilityLines(p: OpenedPack): string[] {
  const lines = [
    `capabilities the pack lists: ${p.manifest.capabilities.join(', ') || 'none'}`,
    'what each component asks for (granted only by the tenant config):',
  ];
  for (const c of p.components) {
    const r = requests(c);
    lines.push(`  ${c.id} as "${r.type}":`, ...r.asks.map((a) => `    ${a}`));
  }
  return lines;
}

/** The pack as `pack inspect --json` prints it. */
export function packJson(p: OpenedPack): unknown {
  const m = p.manifest;
  return {
    file: p.file,
    bytes: p.bytes,
    pack_id: m.packId,
    version: m.version,
    kind: m.kind,
    publisher: m.publisher,
    signature: p.signature,
    sbom: p.sbom ?? null,
    files: Object.fromEntries(p.entries),
    capabilities: m.capabilities,
    components: p.components.map((c) => {
      const r = requests(c);
      return {
        id: c.id,
        type: r.type,
        wasm: c.wasm ? c.wasmFile : null,
        bytes: c.wasm?.length ?? null,
        sha256: c.sha256 ?? null,
        lock_ref: c.lockRef ?? null,
        requests: r.asks,
      };
    }),
    flows: m.flows.map((f) => ({ id: f.id, kind: f.kind, entrypoints: Object.fromEntries(f.entrypoints), nodes: f.nodes })),
    dependencies: m.dependencies.length,
  };
}
