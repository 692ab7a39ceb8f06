// greentic-host pack inspect|verify on Greentic's real packs and on packs the test signs,
// tampers with and breaks: one-line errors, exit codes as every command's.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../dist/cli/main.js';
import { tempDir } from '../support/bundle.js';
import { buildTestPack, writeZip } from '../support/pack-writer.js';

const ECHO = join(process.cwd(), 'test', 'fixtures', 'greentic-packs', 'echo-pack.gtpack');
const work = tempDir('greentic-pack-cli-');
afterAll(() => work.cleanup());

async function pack(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['pack', ...args], { out: (l) => out.push(l), err: (l) => err.push(l), stdin: process.stdin });
  return { code, out, err };
}

const file = (name: string, bytes: Buffer | string) => {
  const path = join(work.dir, name);
  writeFileSync(path, bytes);
  return path;
};
const keyPair = (name: string) => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, pem: file(name, publicKey.export({ type: 'spki', format: 'pem' }).toString()) };
};
const wasm = Buffer.from('\0asm\x0d\0\x01\0');

describe('pack inspect', () => {
  it('shows the real echo-pack: its component and digest, its flow, what it asks for and how a tenant grants it', async () => {
    const r = await pack('inspect', ECHO);
    expect(r.code).toBe(0);
    expect(r.out.slice(0, 7)).toEqual([
      `pack echo-pack 0.1.0 (application, by Greentic): ${ECHO}, 251333 bytes, 8 files`,
      'signature: none',
      'digests: every file matches sbom.cbor; components checked against pack.lock.cbor where it pins them',
      'components (1):',
      '  ai.greentic.component-echo: components/ai.greentic.component-echo.wasm, 236161 bytes, sha256 653197f6ab23a59b7abdb4ce3f1e5dfef0353ef25419943b4e47f70728f84bb4',
      'flows (1):',
      '  echo (messaging): 1 node(s), entrypoints default -> echo',
    ]);
    expect(r.out).toContain('  ai.greentic.component-echo as "component-echo":');
    expect(r.out).toContain('    use (grants.components.component-echo)');
  });

  it('prints the pack as JSON with --json', async () => {
    const r = await pack('inspect', ECHO, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out.join('\n'));
    expect(j.pack_id).toBe('echo-pack');
    expect(j.signature).toEqual({ state: 'unsigned' });
    expect(j.components[0]).toMatchObject({
      id: 'ai.greentic.component-echo',
      type: 'component-echo',
      sha256: '653197f6ab23a59b7abdb4ce3f1e5dfef0353ef25419943b4e47f70728f84bb4',
    });
    expect(j.flows[0].nodes[0].component).toBe('ai.greentic.component-echo');
  });

  it('refuses a hostile pack in one line, exit 1; bad usage is exit 2', async () => {
    const slip = file('slip.gtpack', writeZip([{ name: '../x', data: Buffer.from('x') }]));
    expect(await pack('inspect', slip)).toEqual({
      code: 1,
      out: [],
      err: [`greentic-host pack: ${slip}: entry "../x" has a ".." segment (a path outside the pack)`],
    });
    expect(await pack('inspect', join(work.dir, 'none.gtpack'))).toEqual({
      code: 1,
      out: [],
      err: [`greentic-host pack: ${join(work.dir, 'none.gtpack')}: file not found`],
    });
    expect(await pack('inspect')).toEqual({ code: 2, out: [], err: ['greentic-host pack: expected one FILE.gtpack argument (see --help)'] });
    expect(await pack('inspect', ECHO, '--require-signed')).toEqual({
      code: 2,
      out: [],
      err: ['greentic-host pack: --trust and --require-signed are options of pack verify (see --help)'],
    });
    expect((await pack('sign', ECHO)).err).toEqual(['greentic-host pack: expected inspect or verify, got "sign" (see --help)']);
  });
});

describe('pack verify', () => {
  const signer = keyPair('signer.pem');
  const stranger = keyPair('stranger.pem');
  const signed = file('signed.gtpack', buildTestPack({ components: [{ id: 'ai.test.node', wasm }], signWith: signer.privateKey }));

  it('verifies a signature by a trusted key', async () => {
    expect(await pack('verify', signed, '--trust', stranger.pem, '--trust', signer.pem, '--require-signed')).toEqual({
      code: 0,
      out: [`${signed}: verified: signed by the key in ${signer.pem} at 2026-12-01T00:00:00Z; every file matches its SBOM digest`],
      err: [],
    });
  });

  it('refuses a signature by another key, a pack changed after signing, and an unsigned pack with --require-signed', async () => {
    expect(await pack('verify', signed, '--trust', stranger.pem)).toEqual({
      code: 1,
      out: [],
      err: [`greentic-host pack: ${signed}: signatures/pack.sig: the signature is not by any trusted key (${stranger.pem})`],
    });
    const changed = file(
      'changed.gtpack',
      buildTestPack({
        components: [{ id: 'ai.test.node', wasm }],
        signWith: signer.privateKey,
        tamper: { 'components/ai.test.node.wasm': Buffer.from('other') },
      }),
    );
    expect((await pack('verify', changed, '--trust', signer.pem)).err).toEqual([
      `greentic-host pack: ${changed}: sbom.cbor: "components/ai.test.node.wasm" is 5 bytes, the SBOM says 8`,
    ]);
    expect(await pack('verify', ECHO, '--require-signed')).toEqual({
      code: 1,
      out: [],
      err: [`greentic-host pack: ${ECHO}: the pack is not signed (signatures/pack.sig is missing) and signed packs are required`],
    });
    expect(await pack('verify', ECHO)).toEqual({ code: 0, out: [`${ECHO}: verified: not signed; every file matches its sbom.cbor digest`], err: [] });
  });

  it('refuses a --trust file that is not an Ed25519 public key', async () => {
    const rsa = file('rsa.pem', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect((await pack('verify', signed, '--trust', rsa)).err).toEqual([`greentic-host pack: --trust ${rsa}: a rsa key; packs are signed with Ed25519`]);
    const junk = file('junk.pem', 'not a key');
    expect((await pack('verify', signed, '--trust', junk)).err[0]).toMatch(new RegExp(`^greentic-host pack: --trust ${junk}: not a PEM public key \\(`));
  });
});
