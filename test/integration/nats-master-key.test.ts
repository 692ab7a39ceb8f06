// The master key id in NATS KV: each secrets bucket records the key its secrets are sealed with,
// a command or host with another key is refused, and rotate-key re-seals every bucket.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { masterKeyId } from '../../dist/stores/key-id.js';
import { CLI, EXAMPLES, tempDir } from '../support/bundle.js';
import { startNats, type NatsServer } from '../support/nats.js';

const KEY_A = '1'.repeat(64);
const KEY_B = '2'.repeat(64);
const idOf = (hex: string) => masterKeyId(Buffer.from(hex, 'hex'));
const work = tempDir('greentic-nats-key-');
let nats: NatsServer;

beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.dispose();
  work.cleanup();
});

function cli(args: readonly string[], env: Record<string, string>, stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const full = { ...process.env, GREENTIC_LOG_LEVEL: 'warn', ...env };
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { cwd: work.dir, env: full, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(stdin);
  });
}

describe('master key id in NATS KV buckets', () => {
  it('refuses a second key, lists no record, and rotate-key moves every bucket to the new key', async () => {
    const A = { GREENTIC_MASTER_KEY: KEY_A };
    const B = { GREENTIC_MASTER_KEY: KEY_B };
    expect(await cli(['secrets', 'set', '--nats', nats.url, '--tenant', 'acme', 'crm_token'], A, 'one')).toMatchObject({ code: 0 });
    expect(await cli(['secrets', 'set', '--nats', nats.url, '--tenant', 'acme', '--team', 'support', 'hook'], A, 'two')).toMatchObject({ code: 0 });
    expect(await cli(['secrets', 'set', '--nats', nats.url, '--global', 'openai_key'], A, 'three')).toMatchObject({ code: 0 });
    expect(await cli(['secrets', 'list', '--nats', nats.url, '--tenant', 'acme'], A)).toMatchObject({ code: 0, stdout: 'crm_token\n' });

    const refused = `holds secrets sealed with master key id ${idOf(KEY_A)}, but the key in use (GREENTIC_MASTER_KEY, or DATA/master.key when it is not set) has id ${idOf(KEY_B)}: use the key they were sealed with, or re-seal them under the new key with greentic-host secrets rotate-key`;
    expect(await cli(['secrets', 'set', '--nats', nats.url, '--tenant', 'acme', 'other'], B, 'x')).toEqual({
      code: 1,
      stdout: '',
      stderr: `greentic-host secrets: NATS KV bucket greentic_secrets_acme ${refused}\n`,
    });
    expect((await cli(['secrets', 'list', '--nats', nats.url, '--global'], B)).stderr).toBe(
      `greentic-host secrets: NATS KV bucket greentic_secrets_global ${refused}\n`,
    );
    const serve = await cli(['serve', '--bundle', EXAMPLES, '--nats', nats.url, '--data', 'd', '--port', '0', '--nats-wait', '2000'], B);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toBe(`greentic-host serve: NATS KV bucket greentic_secrets_global ${refused}\n`);

    const rotate = await cli(['secrets', 'rotate-key', '--nats', nats.url], { ...A, GREENTIC_NEW_MASTER_KEY: KEY_B });
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stderr.split('\n')).toEqual([
      `rotating from master key id ${idOf(KEY_A)} to ${idOf(KEY_B)}`,
      'NATS KV bucket greentic_secrets_acme: 2 re-sealed',
      // Made by the refused serve run (it sets up the tenants' resources before checking): empty, and now recorded under the new key.
      'NATS KV bucket greentic_secrets_bigcorp: 0 re-sealed',
      'NATS KV bucket greentic_secrets_global: 1 re-sealed',
      `done: set GREENTIC_MASTER_KEY to the new key (id ${idOf(KEY_B)}) for every host`,
      '',
    ]);
    expect(await cli(['secrets', 'list', '--nats', nats.url, '--tenant', 'acme', '--team', 'support'], B)).toMatchObject({ code: 0, stdout: 'hook\n' });
    expect((await cli(['secrets', 'list', '--nats', nats.url, '--tenant', 'acme'], A)).code).toBe(1);
    // The secret itself opens under the new key: a token is signed with it.
    const token = await cli(['token', 'issue', '--bundle', EXAMPLES, '--nats', nats.url, '--tenant', 'acme', '--team', 'support', '--scope', 'read'], B);
    expect(token).toMatchObject({ code: 1, stderr: expect.stringContaining('has no secret "api_jwt_secret" yet') });
  });
});
