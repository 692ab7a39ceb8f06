import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PackError } from '../greentic/pack/archive.js';
import { openPack, type OpenedPack } from '../greentic/pack/open-pack.js';
import { trustedKey, type TrustedKey } from '../greentic/pack/signature.js';
import { CommandFailed, HELP_FLAG, parsingFlags, UsageError, type CommandIo } from './usage.js';
import { packCapabilityLines, packJson } from './pack-report.js';

export const PACK_HELP = `Usage: greentic-host pack inspect FILE.gtpack [--json]
       greentic-host pack verify FILE.gtpack [--trust KEY.pem ...] [--require-signed]

Greentic packs (.gtpack): a tenant's components and flows in one signed archive.

  inspect    open the pack (limits, names, manifest.cbor, SBOM and lock digests checked) and
             print its id, components, flows and the capabilities they request: what a
             tenant's config must grant before the pack can run
  verify     the same checks, and its signature (signatures/pack.sig, Ed25519) verified
             against the trusted public keys; prints "verified" or why not

Options:
  --json               inspect: the pack as JSON
  --trust KEY.pem      verify: an Ed25519 public key (PEM) the operator trusts; repeatable
  --require-signed     verify: refuse a pack that is not signed
  -h, --help           this help

Exit codes: 0 ok, 1 the pack is refused (the message names the entry and why), 2 bad usage.`;

/** `greentic-host pack inspect|verify`. */
export async function packCommand(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help') {
    io.out(PACK_HELP);
    return 0;
  }
  if (sub !== 'inspect' && sub !== 'verify')
    throw new UsageError(sub === undefined ? 'expected inspect or verify' : `expected inspect or verify, got ${JSON.stringify(sub.slice(0, 40))}`);
  const { values, positionals } = parsingFlags(() =>
    parseArgs({
      args: rest,
      options: { ...HELP_FLAG, json: { type: 'boolean' }, trust: { type: 'string', multiple: true }, 'require-signed': { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(PACK_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one FILE.gtpack argument');
  if (sub === 'inspect' && (values.trust || values['require-signed'])) throw new UsageError('--trust and --require-signed are options of pack verify');
  if (sub === 'verify' && values.json) throw new UsageError('--json is an option of pack inspect');
  const file = positionals[0]!;
  const pack = await openFile(file, sub === 'verify' ? await readKeys(values.trust ?? []) : 'unchecked', values['require-signed'] ?? false);
  if (sub === 'inspect') {
    if (values.json) io.out(JSON.stringify(packJson(pack), null, 2));
    else for (const line of inspectLines(pack)) io.out(line);
    return 0;
  }
  const s = pack.signature;
  io.out(
    s.state === 'verified'
      ? `${file}: verified: signed by the key in ${s.keyFile}${s.signedAt ? ` at ${s.signedAt}` : ''}; every file matches its SBOM digest`
      : `${file}: verified: not signed; every file matches its ${pack.sbom ?? 'lock'} digest`,
  );
  return 0;
}

async function openFile(file: string, trusted: readonly TrustedKey[] | 'unchecked', requireSigned: boolean): Promise<OpenedPack> {
  const st = await stat(file).catch(() => null);
  if (!st) throw new CommandFailed(`${file}: file not found`);
  if (!st.isFile()) throw new CommandFailed(`${file}: not a file`);
  try {
    // The size is checked again on the bytes: the file may have grown since.
    return await openPack(await readFile(file), file, { trusted, requireSigned });
  } catch (e) {
    if (e instanceof PackError) throw new CommandFailed(e.message);
    throw e;
  }
}

async function readKeys(files: readonly string[]): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const f of files) {
    const pem = await readFile(f, 'utf8').catch(() => null);
    if (pem === null) throw new CommandFailed(`--trust ${f}: file not found`);
    try {
      keys.push(trustedKey(pem, f));
    } catch (e) {
      if (e instanceof PackError) throw new CommandFailed(`--trust ${e.message}`);
      throw e;
    }
  }
  return keys;
}

function inspectLines(p: OpenedPack): string[] {
  const m = p.manifest;
  const s = p.signature;
  const lines = [
    `pack ${m.packId} ${m.version} (${m.kind}, by ${m.publisher}): ${p.file}, ${p.bytes} bytes, ${p.entries.size} files`,
    `signature: ${s.state === 'unsigned' ? 'none' : `present${s.signedAt ? ` (${s.signedAt})` : ''}; check it with pack verify --trust KEY.pem`}`,
    `digests: ${p.sbom ? `every file matches ${p.sbom}` : 'no SBOM'}; components checked against pack.lock.cbor where it pins them`,
    `components (${p.components.length}):`,
  ];
  for (const c of p.components) {
    const where = c.wasm ? `${c.wasmFile}, ${c.wasm.length} bytes, sha256 ${c.sha256}` : `not inside the pack (${c.lockRef ?? 'no reference'})`;
    lines.push(`  ${c.id}: ${where}`);
  }
  lines.push(`flows (${m.flows.length}):`);
  for (const f of m.flows) {
    lines.push(
      `  ${f.id} (${f.kind}): ${f.nodes.length} node(s)${f.entrypoints.size > 0 ? `, entrypoints ${[...f.entrypoints].map(([k, v]) => `${k} -> ${v}`).join(', ')}` : ''}`,
    );
  }
  if (m.dependencies.length > 0) lines.push(`dependencies: ${m.dependencies.length} (not resolved by this host)`);
  lines.push(...packCapabilityLines(p));
  return lines;
}
