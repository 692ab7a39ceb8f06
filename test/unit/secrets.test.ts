import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMasterKey, MasterKeyError, parseMasterKey } from '../../dist/stores/master-key.js';
import { SecretCipher, SecretIntegrityError } from '../../dist/stores/secret-cipher.js';
import { FileSecretStore } from '../../dist/stores/secret-store.js';
import { tempDir } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function dataDir(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}
const KEY = Buffer.alloc(32, 7);

describe('secret encryption (AES-256-GCM)', () => {
  it('round-trips and never stores the plaintext', async () => {
    const dir = dataDir();
    const store = new FileSecretStore(dir, KEY);
    await store.set({ kind: 'tenant', tenant: 'acme' }, 'crm_token', 'hunter2-very-secret');
    expect(await store.get({ kind: 'tenant', tenant: 'acme' }, 'crm_token')).toBe('hunter2-very-secret');
    const file = join(dir, 'secrets', 'acme', 'crm_token.secret');
    expect(readFileSync(file).includes(Buffer.from('hunter2'))).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('stores namespaces apart: global/, {tenant}/, {tenant}/teams/{team}/', async () => {
    const dir = dataDir();
    const store = new FileSecretStore(dir, KEY);
    await store.set({ kind: 'global' }, 'k', 'g');
    await store.set({ kind: 'tenant', tenant: 'acme' }, 'k', 't');
    await store.set({ kind: 'team', tenant: 'acme', team: 'support' }, 'k', 'team');
    expect(readdirSync(join(dir, 'secrets')).sort()).toEqual(['.key-id', 'acme', 'global']);
    expect(await store.get({ kind: 'global' }, 'k')).toBe('g');
    expect(await store.get({ kind: 'tenant', tenant: 'acme' }, 'k')).toBe('t');
    expect(await store.get({ kind: 'team', tenant: 'acme', team: 'support' }, 'k')).toBe('team');
    expect(await store.get({ kind: 'tenant', tenant: 'bigcorp' }, 'k')).toBeNull();
    expect(await store.list({ kind: 'tenant', tenant: 'acme' })).toEqual(['k']);
  });

  it("refuses a ciphertext copied into another tenant's namespace (the address is authenticated)", async () => {
    const dir = dataDir();
    const store = new FileSecretStore(dir, KEY);
    await store.set({ kind: 'tenant', tenant: 'bigcorp' }, 'api_key', 'bigcorp-only');
    mkdirSync(join(dir, 'secrets', 'acme'), { recursive: true });
    copyFileSync(join(dir, 'secrets', 'bigcorp', 'api_key.secret'), join(dir, 'secrets', 'acme', 'api_key.secret'));
    await expect(store.get({ kind: 'tenant', tenant: 'acme' }, 'api_key')).rejects.toThrowError(SecretIntegrityError);
  });

  it('detects tampering and a wrong master key', async () => {
    const dir = dataDir();
    const store = new FileSecretStore(dir, KEY);
    await store.set({ kind: 'tenant', tenant: 'acme' }, 'k', 'value');
    const file = join(dir, 'secrets', 'acme', 'k.secret');
    const bytes = readFileSync(file);
    bytes[20] ^= 1;
    writeFileSync(file, bytes);
    await expect(store.get({ kind: 'tenant', tenant: 'acme' }, 'k')).rejects.toThrowError(/failed authentication/);
    await store.set({ kind: 'tenant', tenant: 'acme' }, 'k', 'value');
    await expect(new FileSecretStore(dir, Buffer.alloc(32, 8)).get({ kind: 'tenant', tenant: 'acme' }, 'k')).rejects.toThrowError(SecretIntegrityError);
  });

  it('uses a fresh nonce per seal', () => {
    const c = new SecretCipher(KEY);
    expect(c.seal('acme/k', 'same').equals(c.seal('acme/k', 'same'))).toBe(false);
  });

  it('refuses crafted names and namespaces', async () => {
    const store = new FileSecretStore(dataDir(), KEY);
    await expect(store.get({ kind: 'tenant', tenant: 'acme' }, '../bigcorp/api_key')).rejects.toThrowError(/invalid secret id/);
    await expect(store.get({ kind: 'tenant', tenant: '..' }, 'k')).rejects.toThrowError(/invalid tenant id/);
    await expect(store.set({ kind: 'team', tenant: 'acme', team: 'a/b' }, 'k', 'v')).rejects.toThrowError(/invalid team id/);
  });
});

describe('the master key', () => {
  it('comes from GREENTIC_MASTER_KEY as hex or base64', async () => {
    const hex = 'ab'.repeat(32);
    expect((await loadMasterKey('/nonexistent/key', { GREENTIC_MASTER_KEY: hex })).toString('hex')).toBe(hex);
    expect((await loadMasterKey('/nonexistent/key', { GREENTIC_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') })).equals(Buffer.alloc(32, 1))).toBe(true);
    await expect(loadMasterKey('/nonexistent/key', { GREENTIC_MASTER_KEY: 'short' })).rejects.toThrowError(MasterKeyError);
    expect(() => parseMasterKey('zz', 'X')).toThrowError('X must hold a 32-byte key as 64 hex digits or base64');
  });

  it('is otherwise generated once into a 0600 key file and reused', async () => {
    const dir = dataDir();
    const file = join(dir, 'master.key');
    const a = await loadMasterKey(file, {});
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = await loadMasterKey(file, {});
    expect(a.equals(b)).toBe(true);
  });

  it('refuses a key file others can read', async () => {
    const dir = dataDir();
    const file = join(dir, 'master.key');
    await loadMasterKey(file, {});
    chmodSync(file, 0o644);
    await expect(loadMasterKey(file, {})).rejects.toThrowError(/readable by others \(mode 644\); run chmod 600/);
  });
});
