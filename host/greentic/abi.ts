/**
 * The ABIs Greentic components are published with, recognised from what a component exports.
 * Each runs through an adapter of its own (abi-*.ts) onto the one contract the host runs a
 * Greentic node by (GreenticAbiAdapter below, driven by node-adapter.ts).
 */
import type { ComponentDescriptor } from './contract.js';
import type { GreenticCallInfo } from './envelope.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';

/**
 * - `node-0.6`: greentic:component/node@0.6.x (describe + invoke, CBOR envelope), or invoke only;
 * - `node-0.5`: greentic:component/node@0.5.x (JSON invoke with an exec-ctx, get-manifest);
 * - `v0-v6`: the component-v0-v6 world @0.6.0 (component-descriptor, -schema, -runtime, -qa, -i18n);
 * - `runtime-0.6.1`: descriptor/runtime/qa@0.6.1 with greentic:provider-schema-core/schema-core-api@1.0.0
 *   (the messaging providers), or schema-core alone.
 */
export type GreenticAbi = 'node-0.6' | 'node-0.5' | 'v0-v6' | 'runtime-0.6.1';

/** Export names (versioned) of each ABI's entry interface. */
const NODE_06 = /^greentic:component\/node@0\.6\.\d+$/;
const NODE_05 = /^greentic:component\/node@0\.5\.\d+$/;
const NODE_04 = /^greentic:component\/node@0\.4\.\d+$/;
const V0V6_RUNTIME = /^greentic:component\/component-runtime@0\.6\.\d+$/;
const RUNTIME_061 = /^greentic:component\/runtime@0\.6\.\d+$/;
const SCHEMA_CORE = /^greentic:provider-schema-core\/schema-core-api@1\.\d+\.\d+$/;

/** The ABI a component's exports speak, or undefined when it is none of Greentic's. */
export function greenticAbiOf(exports: readonly string[]): GreenticAbi | undefined {
  if (exports.some((e) => NODE_06.test(e))) return 'node-0.6';
  if (exports.some((e) => NODE_05.test(e))) return 'node-0.5';
  if (exports.some((e) => RUNTIME_061.test(e) || SCHEMA_CORE.test(e))) return 'runtime-0.6.1';
  if (exports.some((e) => V0V6_RUNTIME.test(e))) return 'v0-v6';
  return undefined;
}

/**
 * Why a component that exports a Greentic interface cannot run here, or undefined. node@0.4 is
 * Greentic's legacy surface (one published binary): its JSON invoke is what node@0.5 replaced,
 * and Greentic's own tooling marks it for replacement by 0.6, so the host keeps one JSON
 * adapter (0.5) rather than two.
 */
export function greenticAbiRefusal(name: string, exports: readonly string[]): string | undefined {
  const legacy = exports.find((e) => NODE_04.test(e));
  if (legacy) {
    return `component "${name}" exports ${legacy}, Greentic's legacy node contract, which this host does not run: rebuild it against greentic:component@0.6.0 (node@0.5 and node@0.6 components, the component-v0-v6 world and the 0.6.1 provider world run here)`;
  }
  const other = exports.find((e) => e.startsWith('greentic:component/'));
  if (other && greenticAbiOf(exports) === undefined) {
    return `component "${name}" exports ${other}, a Greentic contract this host does not know; it runs greentic:component/node@0.5 and @0.6, the component-v0-v6 world @0.6.0 and descriptor/runtime@0.6.1`;
  }
  return undefined;
}

/** Exported interface of `exports` matching `pattern`, versioned first (jco also offers a bare alias). */
export function exportOf<T>(exports: Record<string, unknown>, pattern: RegExp, bare: string): T | undefined {
  for (const [k, v] of Object.entries(exports)) if (pattern.test(k)) return v as T;
  return exports[bare] as T | undefined;
}

export const EXPORT_PATTERNS = { NODE_06, NODE_05, V0V6_RUNTIME, RUNTIME_061, SCHEMA_CORE } as const;

/** One invocation as an adapter performs it: the op, the payload (a JSON-like value), and what the envelope needs. */
export interface AbiCall {
  readonly op: string;
  readonly payload: unknown;
  readonly ctx: TenantCtx;
  readonly info: GreenticCallInfo;
  /** The node (step) id. */
  readonly step: string;
  /** The component's own run state (component-v0-v6 run(input, state)), kept by the host per node. */
  readonly runState?: RunState;
}

/** Where a component-v0-v6 node's state blob lives between its calls. */
export interface RunState {
  read(): Uint8Array;
  write(bytes: Uint8Array): void;
}

/** What one invocation answered: the output decoded (CBOR or JSON), and whether the component said it succeeded. */
export interface AbiOutcome {
  readonly ok: boolean;
  readonly output: unknown;
  /** The output as the component encoded it (for `greentic-host call --json`). */
  readonly encoding: 'cbor' | 'json';
  readonly metadata?: unknown;
}

/**
 * What the host needs of any Greentic ABI. `describe` is the component's own descriptor, or one
 * derived from its exports (`derived`: then `opsListed` says whether it names its ops at all).
 */
export interface GreenticAbiAdapter {
  readonly abi: GreenticAbi;
  describe(): { descriptor: ComponentDescriptor; derived: boolean; opsListed: boolean };
  invoke(call: AbiCall): AbiOutcome;
}
