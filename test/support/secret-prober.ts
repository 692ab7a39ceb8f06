import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installTenantComponent, writeFiles } from './bundle.js';

/**
 * Make acme's support channel run the prober (test/fixtures/prober), asking for and granted the
 * secret api_key only (shared_key is neither requested nor granted); `nextNode` follows it in the flow.
 */
export function installSecretProber(bundleDir: string, nextNode?: { id: string; type: string; config: object }): void {
  installTenantComponent(bundleDir, 'acme', 'prober');
  const manifest = join(bundleDir, 'tenants/acme/components/prober/manifest.yaml');
  writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('secrets: [api_key, shared_key]', 'secrets: [api_key]'));
  const tenantYaml = readFileSync(join(bundleDir, 'tenants/acme/tenant.yaml'), 'utf8');
  const nodes = nextNode ? [{ id: 'p', type: 'prober', next: nextNode.id }, nextNode] : [{ id: 'p', type: 'prober' }];
  writeFiles(bundleDir, {
    'tenants/acme/tenant.yaml': tenantYaml.replace(
      '    branch: { teams: [support] }',
      '    branch: { teams: [support] }\n    prober: {}\n  secrets:\n    prober: { names: [api_key] }',
    ),
    'tenants/acme/flows/acme_support_flow.yaml': { name: 'acme_support_flow', version: '1', start: 'p', nodes },
  });
}
