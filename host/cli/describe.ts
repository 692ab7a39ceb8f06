import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { splitVersion } from '../components/component-imports.js';
import { ComponentLoadError } from '../components/registry.js';
import { describeOnce, prepareCall, type PreparedCall } from '../flow/component-call.js';
import { descriptorJson, descriptorLines } from '../greentic/descriptor.js';
import { createLogger } from '../observability/logger.js';
import { DEFAULT_CACHE_DIR } from '../paths.js';
import { NodeError } from '../sandbox/errors.js';
import { SERVED_WASI_VERSION, wasiVersionVerdict } from '../sandbox/wasi-versions.js';
import { lookUpManifest } from './manifest-lookup.js';
import { CommandFailed, HELP_FLAG, parsingFlags, UsageError, type CommandIo } from './usage.js';

export const DESCRIBE_HELP = `Usage: greentic-host describe COMPONENT.wasm [--json] [--manifest FILE]

Print the descriptor of a Greentic component (node@0.6, node@0.5, the component-v0-v6 world,
or the 0.6.1 provider world): its name, version, capabilities, ops with their input and output
schemas, and setup. It is described once in the sandbox, as in a flow (a component without a
describe export gets one derived from its exports and manifest); also listed: its ABI, the
WASI it imports and the version each is served at.

Options:
  --json             the descriptor as JSON (WIT field names; CBOR schemas and examples decoded)
  --manifest FILE    its manifest.yaml or component.manifest.json (default: found as for call)
  -h, --help         this help

Exit codes: 0 ok, 1 the component cannot be described, 2 bad usage.`;

/** `greentic-host describe COMPONENT.wasm [--json]`. */
export async function describeCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({ args: argv, options: { ...HELP_FLAG, json: { type: 'boolean' }, manifest: { type: 'string' } }, allowPositionals: true, strict: true }),
  );
  if (values.help) {
    io.out(DESCRIBE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one COMPONENT.wasm argument');
  const wasmPath = resolve(positionals[0]!);
  if (!existsSync(wasmPath)) throw new CommandFailed(`${positionals[0]}: file not found`);
  const found = await lookUpManifest(wasmPath, values.manifest, io);
  const logger = createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'info' });
  let prepared: PreparedCall;
  try {
    prepared = await prepareCall({ wasmPath, manifest: found.manifest, cacheDir: DEFAULT_CACHE_DIR, greentic: found.greentic }, true);
    if (prepared.component.world !== 'greentic-component-node') {
      throw new CommandFailed(
        `${positionals[0]}: exports ${prepared.component.exports.filter((e) => e.includes('@')).join(', ') || 'nothing'}, not one of Greentic's component contracts; only a Greentic component is described`,
      );
    }
    const { described, descriptor, ms } = await describeOnce(prepared, logger, found.manifest);
    if (values.json) {
      io.out(JSON.stringify({ ...descriptorJson(descriptor), abi: described.abi, derived: described.derived }, null, 2));
      return 0;
    }
    for (const line of descriptorLines(descriptor)) io.out(line);
    io.out(`abi: ${ABI_NAMES[described.abi] ?? described.abi}${described.derived ? ' (no describe export: derived from its exports and manifest)' : ''}`);
    io.out(`WASI imports: ${wasiSummary(prepared.component.versionedImports) || 'none'}`);
    io.out(`described in ${ms.toFixed(0)} ms`);
    return 0;
  } catch (e) {
    if (e instanceof NodeError) throw new CommandFailed(`describe() failed: node error ${e.code}: ${e.message}`);
    if (e instanceof ComponentLoadError) throw new CommandFailed(e.message);
    throw e;
  }
}

/** How `describe` names each ABI. */
const ABI_NAMES: Record<string, string> = {
  'node-0.6': 'greentic:component/node@0.6',
  'node-0.5': 'greentic:component/node@0.5 (JSON)',
  'v0-v6': 'component-v0-v6 world @0.6.0 (component-runtime run)',
  'runtime-0.6.1': 'descriptor/runtime/qa@0.6.1 with provider schema-core@1.0.0',
};

/** "0.2.12 (served as 0.2.3): wasi:cli/environment, wasi:io/streams; 0.2.3: wasi:cli/exit". */
function wasiSummary(imports: readonly string[]): string {
  const byVersion = new Map<string, string[]>();
  for (const name of imports) {
    if (!name.startsWith('wasi:')) continue;
    const { iface, version } = splitVersion(name);
    const label = wasiVersionVerdict(name).kind === 'mapped' ? `${version} (served as ${SERVED_WASI_VERSION})` : (version ?? 'unversioned');
    byVersion.set(label, [...(byVersion.get(label) ?? []), iface]);
  }
  return [...byVersion].map(([v, names]) => `${v}: ${names.join(', ')}`).join('; ');
}
