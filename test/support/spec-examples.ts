import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, writeFiles } from './bundle.js';

/** The repository's copy of the specification page. */
export const SPEC_COPY = join(ROOT, 'test', 'fixtures', 'spec', 'SPEC.md');

/** The project's own SPEC.md (../shared/SPEC.md beside the checkout), where there is one. */
export function sharedSpec(): string | undefined {
  return [join(ROOT, '..', 'shared', 'SPEC.md'), '/work/shared/SPEC.md'].find((f) => existsSync(f));
}

/** The fenced ```yaml blocks under the "### heading" of the spec, exactly as written (their text, without the fences). */
export function specYaml(heading: string, text = readFileSync(SPEC_COPY, 'utf8')): string[] {
  const start = text.indexOf(`\n### ${heading}\n`);
  if (start === -1) throw new Error(`SPEC.md has no section "### ${heading}"`);
  const next = text.slice(start + 1).search(/\n#{2,3} /);
  const section = next === -1 ? text.slice(start) : text.slice(start, start + 1 + next);
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/**
 * Write the spec's examples, byte for byte, into `dir` as a fresh bundle: the bundle
 * configuration as bundle.yaml, the tenant and team definitions as acme's tenant.yaml and
 * teams/support.yaml, and each flow of "Flow isolation" into its tenant's flows/.
 */
export function writeSpecBundle(dir: string): { files: Record<string, string> } {
  const [tenant] = specYaml('Tenant definition');
  const [team] = specYaml('Team definition');
  const [bundle] = specYaml('Bundle configuration');
  const files: Record<string, string> = {
    'bundle.yaml': bundle!,
    'tenants/acme/tenant.yaml': tenant!,
    'tenants/acme/teams/support.yaml': team!,
  };
  for (const flow of specYaml('Flow isolation')) {
    const name = /^name: (\S+)$/m.exec(flow)![1]!;
    files[`tenants/${name.split('_')[0]}/flows/${name}.yaml`] = flow;
  }
  writeFiles(dir, files);
  return { files };
}
