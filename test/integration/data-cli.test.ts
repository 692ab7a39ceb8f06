import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { GreenticHost } from '../../dist/host.js';
import { converse } from '../../dist/messaging/conversation.js';
import { CLI, EXAMPLES, tempDir } from '../support/bundle.js';
import { filesContaining } from '../support/data-search.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies } from '../support/host.js';
import { memoryLogger } from '../support/logs.js';

const run = promisify(execFile);
const dir = tempDir('greentic-data-cli-');
afterAll(() => dir.cleanup());
const KEY = 'ef'.repeat(32);
process.env.GREENTIC_MASTER_KEY = KEY;

async function greentic(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = run(process.execPath, [CLI, ...args], {
    cwd: dir.dir,
    env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn', GREENTIC_MASTER_KEY: KEY },
    timeout: 60_000,
  });
  if (input !== undefined) child.child.stdin!.end(input);
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Conversations and secrets of both tenants in the data directory, written by a host that then stops (as `serve` would). */
async function seed(): Promise<void> {
  const host = await GreenticHost.start({ bundleDir: EXAMPLES, dataDir: join(dir.dir, 'data'), logger: memoryLogger('warn').logger, workers: 1, spare: false });
  try {
    for (const [addr, user, text] of [
      [ACME_SLACK, 'alice', 'hello'],
      [ACME_SLACK, 'alice', 'otter-alice-phrase'],
      [ACME_SLACK, 'bob', 'bob-cli-phrase'],
      [BIGCORP_WEBCHAT, 'carol', 'carol-cli-phrase'],
    ] as const)
      replies(await converse(host.bus, addr, { user, text }, 60_000));
    await host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'crm_token', 'acme-token-value');
    await host.secrets.set({ kind: 'tenant', tenant: 'bigcorp' }, 'crm_token', 'bigcorp-token-value');
  } finally {
    await host.close();
  }
}
const data = ['--bundle', EXAMPLES, '--data', 'data'];

describe('greentic-host data', () => {
  it('exports and erases one user, then a whole tenant, leaving the other tenant alone', async () => {
    await seed();

    const exp = await greentic(['data', 'export', ...data, '--tenant', 'acme', '--user', 'alice']);
    expect(exp.code).toBe(0);
    const doc = JSON.parse(exp.stdout);
    expect(doc).toMatchObject({ format: 'greentic-host.export.v1', tenant: 'acme', env: null, user: 'alice' });
    expect(doc.sessions.map((s: any) => s.transcript.filter((t: any) => t.from === 'user').map((t: any) => t.text))).toEqual([['hello', 'otter-alice-phrase']]);
    expect(exp.stderr).toBe('exported 1 session(s) and 0 dead letter(s) of tenant "acme"\n');

    const del = await greentic(['data', 'delete', ...data, '--tenant', 'acme', '--user', 'alice']);
    expect(del).toMatchObject({ code: 0, stderr: 'erased from tenant "acme": 1 sessions, 0 dead letters\n' });
    expect(filesContaining(join(dir.dir, 'data'), 'otter-alice-phrase')).toEqual([]);
    expect(filesContaining(join(dir.dir, 'data'), 'bob-cli-phrase')).not.toEqual([]);

    expect(await greentic(['data', 'delete', ...data, '--tenant', 'acme'])).toMatchObject({
      code: 2,
      stderr: 'greentic-host data: deleting every session of tenant "acme" needs --yes (see --help)\n',
    });
    const all = await greentic(['data', 'delete', ...data, '--tenant', 'acme', '--yes']);
    expect(all).toMatchObject({ code: 0, stderr: 'erased from tenant "acme": 1 sessions, 0 dead letters, 1 secrets\n' });
    for (const d of ['sessions/acme', 'secrets/acme', 'deadletters/acme']) expect(existsSync(join(dir.dir, 'data', d))).toBe(false);
    expect(filesContaining(join(dir.dir, 'data'), 'bob-cli-phrase')).toEqual([]);
    expect(filesContaining(join(dir.dir, 'data'), 'carol-cli-phrase')).not.toEqual([]);
    expect(await greentic(['secrets', 'list', '--data', 'data', '--tenant', 'bigcorp'])).toMatchObject({ code: 0, stdout: 'crm_token\n' });
  }, 300_000);

  it('refuses bad ids, unknown scopes and a selector it cannot read, naming what is wrong', async () => {
    expect(await greentic(['data', 'export', ...data, '--tenant', 'acme', '--user', '../x'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^greentic-host data: invalid user id "\.\.\/x" in --user: /),
    });
    expect(await greentic(['data', 'export', ...data, '--tenant', 'acme', '--env', 'nope', '--user', 'alice'])).toMatchObject({
      code: 1,
      stderr: 'greentic-host data: tenant "acme" has no environment "nope"\n',
    });
    expect(await greentic(['data', 'export', ...data, '--tenant', 'acme', '--session', 's1'])).toMatchObject({
      code: 2,
      stderr: 'greentic-host data: --session needs --env and --team (see --help)\n',
    });
    expect(await greentic(['data', 'wipe', ...data, '--tenant', 'acme'])).toMatchObject({
      code: 2,
      stderr: 'greentic-host data: expected export or delete, got "wipe" (see --help)\n',
    });
  }, 300_000);
});
