/**
 * Greentic's component contract (greentic:component/node@0.6.0, types from
 * greentic:types-core/core@0.6.0; WIT in wit/greentic/) as jco presents it to JS: kebab-case
 * fields become camelCase, option<T> is T | undefined, u64 is a bigint, list<u8> a Uint8Array.
 */

/** The package and interface a Greentic node component exports. */
export const GREENTIC_NODE_INTERFACE = 'greentic:component/node';
/** The contract version this host runs; any 0.6.x export is accepted. */
export const GREENTIC_NODE_VERSION = '0.6.0';

/** True for an export name of the contract this host runs ("greentic:component/node@0.6.0"). */
export function isGreenticNodeExport(name: string): boolean {
  return name.startsWith(`${GREENTIC_NODE_INTERFACE}@0.6.`);
}

/**
 * The WASI interfaces Greentic's runner gives every component, whatever its manifest says: what
 * Rust's wasm32-wasip2 std (and componentize-js's stdio) link. Here they are inert: an empty
 * environment and arguments, a closed stdin, stdout and stderr into the tenant's log, exit ending
 * only the call, no terminal, no preopened directory.
 */
export const GREENTIC_WASI_BASELINE: readonly string[] = [
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:filesystem/preopens',
  'wasi:filesystem/types',
];

/** What `capabilities.wasi.clocks: true` adds. */
export const GREENTIC_WASI_CLOCKS: readonly string[] = ['wasi:clocks/monotonic-clock', 'wasi:clocks/wall-clock'];
/** What `capabilities.wasi.random: true` adds. */
export const GREENTIC_WASI_RANDOM: readonly string[] = ['wasi:random/random', 'wasi:random/insecure', 'wasi:random/insecure-seed'];

/** tenant-ctx of greentic:types-core/core@0.6.0. */
export interface GreenticTenantCtx {
  tenantId: string;
  teamId: string | undefined;
  userId: string | undefined;
  envId: string;
  traceId: string;
  correlationId: string;
  /** Absolute deadline, milliseconds since the Unix epoch. */
  deadlineMs: bigint;
  attempt: number;
  idempotencyKey: string | undefined;
  i18nId: string;
}

/** invocation-envelope of greentic:component/node@0.6.0. */
export interface InvocationEnvelope {
  ctx: GreenticTenantCtx;
  flowId: string;
  stepId: string;
  componentId: string;
  attempt: number;
  payloadCbor: Uint8Array;
  metadataCbor: Uint8Array | undefined;
}

/** invocation-result of greentic:component/node@0.6.0. */
export interface InvocationResult {
  ok: boolean;
  outputCbor: Uint8Array;
  outputMetadataCbor: Uint8Array | undefined;
}

export type SchemaSource =
  { tag: 'cbor-schema-id'; val: string } | { tag: 'inline-cbor'; val: Uint8Array } | { tag: 'ref-pack-path'; val: string } | { tag: 'ref-uri'; val: string };

export interface IoSchema {
  schema: SchemaSource;
  contentType: string;
  schemaVersion: string | undefined;
}

export interface OpDescriptor {
  name: string;
  summary: string | undefined;
  input: IoSchema;
  output: IoSchema;
  examples: Array<{ title: string; inputCbor: Uint8Array; outputCbor: Uint8Array }>;
}

export interface SchemaRef {
  id: string;
  contentType: string;
  blake3Hash: string;
  version: string;
  bytes: Uint8Array | undefined;
  uri: string | undefined;
}

export interface SetupContract {
  qaSpec: SchemaSource;
  answersSchema: SchemaSource;
  examples: Array<{ title: string; answersCbor: Uint8Array }>;
  outputs: Array<{ tag: 'config-only' } | { tag: 'template-scaffold'; val: { templateRef: string; outputLayout: string | undefined } }>;
}

/** component-descriptor of greentic:component/node@0.6.0: what describe() returns. */
export interface ComponentDescriptor {
  name: string;
  version: string;
  summary: string | undefined;
  capabilities: string[];
  ops: OpDescriptor[];
  schemas: SchemaRef[];
  setup: SetupContract | undefined;
}

/** The node export as jco instantiates it. */
export interface GreenticNodeExport {
  describe(): ComponentDescriptor;
  invoke(op: string, envelope: InvocationEnvelope): InvocationResult;
}
