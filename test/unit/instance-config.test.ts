import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readInstanceConfig } from '../../dist/cli/instance-config.js';
import { EXAMPLES, tempDir, writeFiles } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function file(content: object | string): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  writeFiles(t.dir, { 'instance.yaml': content });
  return join(t.dir, 'instance.yaml');
}

describe('serve --config', () => {
  it('reads the hybrid example, paths relative to the file', async () => {
    const dedicated = await readInstanceConfig(join(EXAMPLES, 'deployments', 'hybrid', 'dedicated-bigcorp.yaml'));
    expect(dedicated).toMatchObject({ bundle: EXAMPLES, tenants: ['bigcorp'], stores: 'nats', nats: { url: 'nats://127.0.0.1:4222' } });
    const shared = await readInstanceConfig(join(EXAMPLES, 'deployments', 'hybrid', 'shared.yaml'));
    expect(shared).toMatchObject({ tenants: 'all', excludeTenants: ['bigcorp'] });
  });

  it('names the file and path of a mistake', async () => {
    await expect(readInstanceConfig(file({ tenants: ['ACME'] }))).rejects.toThrowError(/instance\.yaml: tenants\[0\]: invalid tenant id "ACME"/);
    await expect(readInstanceConfig(file({ nats: { url: 'http://x' } }))).rejects.toThrowError(/instance\.yaml: nats\.url: expected nats:\/\/host:port/);
    await expect(readInstanceConfig(file({ port: 'eighty' }))).rejects.toThrowError(/instance\.yaml: port: /);
    await expect(readInstanceConfig(file({ colour: 'red' }))).rejects.toThrowError(/instance\.yaml: colour: unknown key/);
  });

  it('reads credentials from the environment variables it names, never from the file', async () => {
    const f = file({ nats: { url: 'nats://h:1', user: 'u', password_env: 'MY_NATS_PASSWORD' } });
    expect((await readInstanceConfig(f, { MY_NATS_PASSWORD: 's3cret' })).nats).toMatchObject({ user: 'u', password: 's3cret' });
    await expect(readInstanceConfig(f, {})).rejects.toThrowError(/nats\.password_env: environment variable MY_NATS_PASSWORD is not set/);
    await expect(readInstanceConfig(file({ nats: { url: 'nats://h:1', password: 'inline' } }))).rejects.toThrowError(/nats\.password: unknown key/);
  });
});
