/**
 * Writes .gtpack archives for tests: a small ZIP writer (stored or deflated entries, with the
 * sizes and names it is told, so a test can write what no honest zip tool would: a lying size,
 * a "../" name, a bomb) and a pack builder that lays out manifest.cbor, the SBOM, the lock and
 * the signature as greentic-pack does, from a real component's bytes.
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { blake3 } from '@noble/hashes/blake3.js';
import { Encoder } from 'cbor-x';

export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
  readonly method?: 'store' | 'deflate';
  /** Written as the entry's uncompressed size instead of the real one. */
  readonly declaredSize?: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A ZIP archive of `entries`, in order. */
export function writeZip(entries: readonly ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const deflate = (e.method ?? 'deflate') === 'deflate';
    const body = deflate ? deflateRawSync(e.data) : Buffer.from(e.data);
    const size = e.declaredSize ?? e.data.length;
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(0x00210000, 10); // 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt32LE(0x00210000, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false });
export const encodeCborValue = (v: unknown): Buffer => Buffer.from(cbor.encode(v));

const hex = (algo: 'sha256', data: Uint8Array) => createHash(algo).update(data).digest('hex');
const b3 = (data: Uint8Array) => Buffer.from(blake3(data)).toString('hex');

/** A component of a test pack: its id, bytes and the declaration manifest.cbor gives it. */
export interface TestComponent {
  readonly id: string;
  readonly wasm: Uint8Array;
  readonly declaration?: Record<string, unknown>;
}

/** A flow of a test pack in flow-v1 terms (ids as text). */
export interface TestFlow {
  readonly id: string;
  readonly nodes: ReadonlyArray<{ id: string; component: string; operation?: string; mapping?: unknown; next?: string }>;
}

export interface TestPackOptions {
  readonly packId?: string;
  readonly components: readonly TestComponent[];
  readonly flows?: readonly TestFlow[];
  readonly capabilities?: readonly string[];
  /** Sign with this Ed25519 private key. */
  readonly signWith?: KeyObject;
  /** Change the manifest value before it is encoded. */
  readonly editManifest?: (m: Record<string, unknown>) => void;
  /** Change the lock before it is encoded. */
  readonly editLock?: (lock: { version: number; components: Record<string, Record<string, unknown>> }) => void;
  /** Extra archive entries, after the pack's own (not in the SBOM unless `inSbom`). */
  readonly extra?: readonly ZipEntry[];
  readonly extraInSbom?: boolean;
  /** Replace a file's bytes after the SBOM, lock and signature were computed (a tampered pack). */
  readonly tamper?: Readonly<Record<string, Uint8Array>>;
}

/** The declaration greentic-pack writes for a messaging component with no capabilities beyond telemetry. */
export function plainDeclaration(operations: readonly string[]): Record<string, unknown> {
  return {
    version: '0.1.0',
    supports: ['messaging'],
    world: 'greentic:component/component@0.6.0',
    profiles: { default: 'stateless', supported: ['stateless'] },
    capabilities: { wasi: { filesystem: { mode: 'none', mounts: [] }, random: false, clocks: false }, host: { telemetry: { scope: 'node' } } },
    configurators: null,
    operations: operations.map((name) => ({ name, input_schema: { type: 'object' }, output_schema: { type: 'object' } })),
  };
}

/** A .gtpack laid out as greentic-pack writes one (pack-v1 manifest with symbols, SBOM, lock, optional pack.sig). */
export function buildTestPack(opts: TestPackOptions): Buffer {
  const componentIds = opts.components.map((c) => c.id);
  const nodeIds = [...new Set((opts.flows ?? []).flatMap((f) => f.nodes.map((n) => n.id)))];
  const manifest: Record<string, unknown> = {
    schema_version: 'pack-v1',
    pack_id: 0,
    version: '0.1.0',
    kind: 'application',
    publisher: 'Tests',
    symbols: { component_ids: componentIds, node_ids: nodeIds, capability_names: [...(opts.capabilities ?? [])], pack_ids: [opts.packId ?? 'test-pack'] },
    components: opts.components.map((c, i) => ({ id: i, ...(c.declaration ?? plainDeclaration(['handle_message'])) })),
    flows: (opts.flows ?? []).map((f) => ({
      id: f.id,
      kind: 'messaging',
      flow: {
        schema_version: 'flow-v1',
        id: f.id,
        kind: 'messaging',
        entrypoints: f.nodes.length > 0 ? { default: nodeIds.indexOf(f.nodes[0]!.id) } : {},
        nodes: f.nodes.map((n) => ({
          id: nodeIds.indexOf(n.id),
          component: { id: componentIds.indexOf(n.component), pack_alias: null, operation: n.operation ?? null },
          input: { mapping: n.mapping ?? {} },
          output: { mapping: {} },
          routing: n.next === undefined ? 'End' : { Next: { node_id: nodeIds.indexOf(n.next) } },
          telemetry: { attributes: {} },
        })),
        metadata: { tags: [], extra: {} },
      },
      tags: ['default'],
      entrypoints: ['default'],
    })),
    dependencies: [],
    capabilities: (opts.capabilities ?? []).map((_, i) => ({ name: i, description: null })),
    signatures: { signatures: [] },
    extensions: { 'greentic.pack-mode.v1': { kind: 'greentic.pack-mode.v1', version: '1', inline: { mode: 'prod' } } },
  };
  opts.editManifest?.(manifest);
  const lock = {
    version: 1,
    components: Object.fromEntries(
      opts.components.map((c) => [c.id, { ref: `file:///build/${c.id}.wasm`, resolved_digest: `sha256:${hex('sha256', c.wasm)}`, component_id: c.id }]),
    ),
  };
  opts.editLock?.(lock);
  const files: Array<[string, Uint8Array]> = [
    ['manifest.cbor', encodeCborValue(manifest)],
    ...opts.components.map((c) => [`components/${c.id}.wasm`, c.wasm] as [string, Uint8Array]),
    ['pack.lock.cbor', encodeCborValue(lock)],
  ];
  if (opts.extraInSbom) for (const e of opts.extra ?? []) files.push([e.name, e.data]);
  const sbomFiles = files.map(([path, data]) => ({ path, size: data.length, media_type: 'application/octet-stream', hash_blake3: b3(data) }));
  const sbom = encodeCborValue({ files: sbomFiles, format: 'greentic-sbom-v1' });
  const entries: ZipEntry[] = [...files.map(([name, data]) => ({ name, data })), { name: 'sbom.cbor', data: sbom }];
  if (opts.signWith) {
    const h = blake3.create();
    h.update(files[0]![1]);
    h.update(sbom);
    for (const f of [...sbomFiles].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) h.update(Buffer.from(`${f.path}\n${f.hash_blake3}`));
    const digest = h.digest();
    const envelope = {
      alg: 'ed25519',
      sig: sign(null, digest, opts.signWith).toString('base64url'),
      digest: Buffer.from(digest).toString('hex'),
      signed_at_utc: '2026-12-01T00:00:00Z',
    };
    entries.push({ name: 'signatures/pack.sig', data: Buffer.from(JSON.stringify(envelope)) });
  }
  if (!opts.extraInSbom) entries.push(...(opts.extra ?? []));
  const tampered = entries.map((e) => (opts.tamper && Object.hasOwn(opts.tamper, e.name) ? { ...e, data: opts.tamper[e.name]! } : e));
  return writeZip(tampered);
}
