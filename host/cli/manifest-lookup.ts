import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseManifest, type ComponentManifest } from '../components/manifest.js';
import type { GreenticManifestInfo } from '../greentic/manifest.js';
import { findGreenticManifest, GREENTIC_MANIFEST_FILE, readGreenticManifest } from '../greentic/manifest-file.js';
import { cliName } from '../flow/component-call.js';
import { ConfigError, formatProblem } from '../tenancy/config/problems.js';
import { readYamlFile } from '../tenancy/config/yaml-file.js';
import { CommandFailed, type CommandIo } from './usage.js';

/** The manifest `call` and `describe` use for a component file, if any. */
export interface FoundManifest {
  readonly manifest: ComponentManifest | undefined;
  /** Set when it was Greentic's component.manifest.json. */
  readonly greentic: GreenticManifestInfo | undefined;
}

/**
 * The manifest of `wasmPath`: `flag` (a manifest.yaml or a component.manifest.json), else
 * manifest.yaml next to it, else a component.manifest.json next to it or in a folder above that
 * names it (Greentic's project layout). A manifest that does not parse stops the command.
 */
export async function lookUpManifest(wasmPath: string, flag: string | undefined, io: CommandIo): Promise<FoundManifest> {
  let file: string | undefined;
  if (flag !== undefined) {
    file = resolve(flag);
    if (!existsSync(file)) throw new CommandFailed(`${flag}: file not found`);
  } else if (existsSync(join(dirname(wasmPath), 'manifest.yaml'))) {
    file = join(dirname(wasmPath), 'manifest.yaml');
  } else {
    file = await findGreenticManifest(wasmPath);
    if (file) io.err(`note: using ${relative(process.cwd(), file) || file}`);
  }
  if (file === undefined) return { manifest: undefined, greentic: undefined };
  if (file.endsWith('.json')) {
    const read = await readGreenticManifest(file, cliName(wasmPath));
    if (!read.ok) throw new CommandFailed(new ConfigError(read.problems).message);
    for (const note of read.greentic.notes) io.err(`note: ${GREENTIC_MANIFEST_FILE}: ${note}`);
    return { manifest: read.manifest, greentic: read.greentic };
  }
  const doc = await readYamlFile(file);
  if (!doc.ok) throw new CommandFailed(doc.problems.map(formatProblem).join('\n'));
  const parsed = parseManifest(doc.data, file);
  if (!parsed.ok) throw new CommandFailed(new ConfigError(parsed.problems).message);
  return { manifest: parsed.manifest, greentic: undefined };
}
