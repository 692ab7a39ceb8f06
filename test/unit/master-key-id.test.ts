// The key id record of the secrets: a second key is refused, a rotation re-seals everything and
// switches at one point, and a rotation that stops half way is refused until it is run again.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSealedArea, KEY_ID_FILE } from '../../dist/stores/file-sealed-area.js';
import { checkSealedArea, masterKeyId, MasterKeyMismatchError, rotateSealedArea, type SealedArea, type SealedEntry } from '../../dist/stores/key-id.js';
import { FileSecretStore } from '../../dist/stores/secret-store.js';
import { tempDir } from '../support/bundle.js';

const work = tempDir('greentic-key-id-');
afterAll(() => work.cleanup());
let n = 0;
const freshDir = () => join(work.dir, `d${n++}`);
const key = (byte: number) => Buffer.alloc(32, byte);
const A = key(0xaa);
const B = key(0xbb);
const C = key(0xcc);

async function storeWith(dir: string, k: Buffer, secrets: Record<string, string>): Promise<FileSecretStore> {
  const store = new FileSecretStore(dir, k);
  for (const [name, value] of Object.entries(secrets)) await store.set({ kind: 'tenant', tenant: 'acme' }, name, value);
  return store;
}

/** The same area, failing its `failAt`-th replace: a rotation cut off half way. */
function failingAfter(area: SealedArea, failAt: number): SealedArea {
  let replaced = 0;
  return {
    where: area.where,
    readKeyId: () => area.readKeyId(),
    writeKeyId: (r) => area.writeKeyId(r),
    async *entries(): AsyncIterable<SealedEntry> {
      for await (const e of area.entries()) {
        yield {
          ...e,
          replace: async (next) => {
            if (++replaced === failAt) throw new Error('the disk went away');
            await e.replace(next);
          },
        };
      }
    },
  };
}

describe('master key id', () => {
  it('is 16 hex digits, the same for the same key, different for another', () => {
    expect(masterKeyId(A)).toMatch(/^[0-9a-f]{16}$/);
    expect(masterKeyId(A)).toBe(masterKeyId(Buffer.from(A)));
    expect(masterKeyId(A)).not.toBe(masterKeyId(B));
  });

  it('is recorded with the first secret, and another key is refused for writes and checks', async () => {
    const dir = freshDir();
    await storeWith(dir, A, { crm_token: 'one' });
    expect(JSON.parse(readFileSync(join(dir, 'secrets', KEY_ID_FILE), 'utf8'))).toEqual({ key_id: masterKeyId(A) });
    const other = new FileSecretStore(dir, B);
    const refusal = `${join(dir, 'secrets')}/ holds secrets sealed with master key id ${masterKeyId(A)}, but the key in use (GREENTIC_MASTER_KEY, or DATA/master.key when it is not set) has id ${masterKeyId(B)}: use the key they were sealed with, or re-seal them under the new key with greentic-host secrets rotate-key`;
    await expect(other.checkMasterKey()).rejects.toThrow(new MasterKeyMismatchError(refusal));
    await expect(other.set({ kind: 'tenant', tenant: 'acme' }, 'second', 'two')).rejects.toThrow(refusal);
    expect(await new FileSecretStore(dir, A).list({ kind: 'tenant', tenant: 'acme' })).toEqual(['crm_token']);
  });

  it('secrets of an earlier version (no record) are checked by opening one, then recorded', async () => {
    const dir = freshDir();
    await storeWith(dir, A, { crm_token: 'one' });
    const record = join(dir, 'secrets', KEY_ID_FILE);
    writeFileSync(record, '');
    await expect(new FileSecretStore(dir, A).checkMasterKey()).rejects.toThrow(/the master key id record is damaged/);
    (await import('node:fs')).rmSync(record);
    await expect(new FileSecretStore(dir, B).checkMasterKey()).rejects.toThrow(
      `${join(dir, 'secrets')}/ holds secrets that do not open with the master key in use (GREENTIC_MASTER_KEY, or DATA/master.key when it is not set, id ${masterKeyId(B)})`,
    );
    await checkSealedArea(new FileSealedArea(join(dir, 'secrets')), A, true);
    expect(JSON.parse(readFileSync(record, 'utf8'))).toEqual({ key_id: masterKeyId(A) });
  });

  it('a damaged record is refused whatever it holds (generated)', async () => {
    const dir = freshDir();
    await storeWith(dir, A, { crm_token: 'one' });
    const record = join(dir, 'secrets', KEY_ID_FILE);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.constant('{"key_id":"__proto__"}')), async (text) => {
        fc.pre(text.trim() !== `{"key_id":"${masterKeyId(A)}"}`);
        writeFileSync(record, text);
        await expect(new FileSecretStore(dir, A).checkMasterKey()).rejects.toThrow(MasterKeyMismatchError);
      }),
      { numRuns: 200 },
    );
  });
});

describe('rotate-key', () => {
  it('re-seals every secret of every namespace and switches the record to the new key', async () => {
    const dir = freshDir();
    const store = await storeWith(dir, A, { crm_token: 'one', api_jwt_secret: 'two' });
    await store.set({ kind: 'team', tenant: 'acme', team: 'support' }, 'hook', 'three');
    await store.set({ kind: 'global' }, 'openai_key', 'four');
    const area = new FileSealedArea(join(dir, 'secrets'));
    expect(await rotateSealedArea(area, A, B)).toEqual({ where: `${join(dir, 'secrets')}/`, resealed: 4, already: 0 });
    const after = new FileSecretStore(dir, B);
    await after.checkMasterKey();
    expect(await after.get({ kind: 'tenant', tenant: 'acme' }, 'crm_token')).toBe('one');
    expect(await after.get({ kind: 'team', tenant: 'acme', team: 'support' }, 'hook')).toBe('three');
    expect(await after.get({ kind: 'global' }, 'openai_key')).toBe('four');
    await expect(new FileSecretStore(dir, A).checkMasterKey()).rejects.toThrow(MasterKeyMismatchError);
    // Run again: nothing left to do.
    expect(await rotateSealedArea(area, A, B)).toEqual({ where: `${join(dir, 'secrets')}/`, resealed: 0, already: 4 });
  });

  it('stopped half way, the area is refused by everyone until the same rotation is run again', async () => {
    const dir = freshDir();
    await storeWith(dir, A, { a1: 'one', a2: 'two', a3: 'three' });
    const area = new FileSealedArea(join(dir, 'secrets'));
    await expect(rotateSealedArea(failingAfter(area, 2), A, B)).rejects.toThrow('the disk went away');
    const unfinished = `${join(dir, 'secrets')}/: a master key rotation (key id ${masterKeyId(A)} to ${masterKeyId(B)}) did not finish; run greentic-host secrets rotate-key again with the same keys to finish it`;
    await expect(new FileSecretStore(dir, A).checkMasterKey()).rejects.toThrow(unfinished);
    await expect(new FileSecretStore(dir, B).checkMasterKey()).rejects.toThrow(unfinished);
    await expect(rotateSealedArea(area, A, C)).rejects.toThrow(/an unfinished rotation is moving to master key id .*, not to the new key given/);
    expect(await rotateSealedArea(area, A, B)).toEqual({ where: `${join(dir, 'secrets')}/`, resealed: 2, already: 1 });
    const after = new FileSecretStore(dir, B);
    await after.checkMasterKey();
    expect(await after.get({ kind: 'tenant', tenant: 'acme' }, 'a3')).toBe('three');
  });

  it('a secret that opens with neither key stops it before anything changed', async () => {
    const dir = freshDir();
    await storeWith(dir, A, { good: 'one' });
    // Sealed under C, in the same folder (the mix the record now prevents).
    const { SecretCipher } = await import('../../dist/stores/secret-cipher.js');
    writeFileSync(join(dir, 'secrets', 'acme', 'stray.secret'), new SecretCipher(C).seal('acme/stray', 'x'));
    const before = readFileSync(join(dir, 'secrets', 'acme', 'good.secret'));
    await expect(rotateSealedArea(new FileSealedArea(join(dir, 'secrets')), A, B)).rejects.toThrow(
      `${join(dir, 'secrets')}/: secret acme/stray opens with neither the old master key (${masterKeyId(A)}) nor the new one (${masterKeyId(B)}); nothing was changed`,
    );
    expect(readFileSync(join(dir, 'secrets', 'acme', 'good.secret'))).toEqual(before);
    expect(JSON.parse(readFileSync(join(dir, 'secrets', KEY_ID_FILE), 'utf8'))).toEqual({ key_id: masterKeyId(A) });
  });
});
