import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, copyExamples, EXAMPLES, fixtureWasm, tempDir, writeFiles } from '../support/bundle.js';

const run = promisify(execFile);
const data = tempDir('greentic-cli-');
afterAll(() => data.cleanup());

/** Run the real greentic-host binary; never throws, returns code and output. */
async function greentic(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = run(process.execPath, [CLI, ...args], { cwd: data.dir, env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn' }, timeout: 60_000 });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const acme = ['--bundle', EXAMPLES, '--data', 'data', '--tenant', 'acme', '--env', 'prod', '--team', 'support', '--channel', 'slack'];
const bigcorp = ['--bundle', EXAMPLES, '--data', 'data', '--tenant', 'bigcorp', '--env', 'prod', '--team', 'helpdesk', '--channel', 'webchat'];

describe('greentic-host send', () => {
  it("prints each tenant's greeting and continues the session on the next send", async () => {
    expect(await greentic(['send', ...acme, '--user', 'u1', 'hello'])).toMatchObject({ code: 0, stdout: 'Welcome to ACME Support! How can I help?\n' });
    expect(await greentic(['send', ...bigcorp, '--user', 'u9', 'hi'])).toMatchObject({ code: 0, stdout: "BigCorp Helpdesk here. What's your issue?\n" });
    expect(await greentic(['send', ...acme, '--user', 'u1', 'I was charged twice'])).toMatchObject({
      code: 0,
      stdout: 'Sorry about the billing trouble. What is the email on your account?\n',
    });
    const json = await greentic(['send', ...acme, '--user', 'u1', '--json', 'me@acme.test']);
    const answer = JSON.parse(json.stdout) as { session: string; replies: string[] };
    expect(answer.replies).toEqual(['Thanks! A billing specialist will write to me@acme.test within one business day.']);
    expect(readdirSync(join(data.dir, 'data', 'sessions', 'acme', 'prod', 'support'))).toEqual([`${answer.session}.cbor`]);
  });

  it('exits 1 with the reason when the channel does not exist', async () => {
    const r = await greentic(['send', ...acme.slice(0, -2), '--channel', 'fax', '--user', 'u1', 'hi']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('greentic-host send: team "acme/support" has no channel "fax"');
  });

  it('exits 2 with one line for bad usage', async () => {
    const r = await greentic(['send', ...acme, '--user', 'u1', '--colour', 'red', 'hi']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("Unknown option '--colour'");
    expect((await greentic(['send', ...acme, '--user', 'u1'])).stderr.trim()).toBe('greentic-host send: missing the message TEXT (see --help)');
    expect((await greentic(['frobnicate'])).code).toBe(2);
  });

  it('has --help on each command', async () => {
    for (const cmd of ['serve', 'send', 'call', 'validate', 'secrets']) {
      const r = await greentic([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: greentic-host ${cmd}`));
    }
  });
});

describe('greentic-host secrets', () => {
  it('stores encrypted values and lists names, never values', async () => {
    const secret = 'sk-live-0123456789abcdef';
    expect(await greentic(['secrets', 'set', '--data', 'data', '--tenant', 'acme', 'crm_token'], `${secret}\n`)).toMatchObject({
      code: 0,
      stderr: 'stored acme/crm_token (encrypted)\n',
    });
    expect((await greentic(['secrets', 'set', '--data', 'data', '--tenant', 'acme', '--team', 'support', 'crm_token'], 'team-value')).code).toBe(0);
    expect((await greentic(['secrets', 'set', '--data', 'data', '--global', 'openai_key'], 'global-value')).code).toBe(0);
    const list = await greentic(['secrets', 'list', '--data', 'data', '--tenant', 'acme']);
    expect(list).toMatchObject({ code: 0, stdout: 'crm_token\n' });
    expect(list.stdout + list.stderr).not.toContain(secret);
    expect((await greentic(['secrets', 'list', '--data', 'data', '--global'])).stdout).toBe('openai_key\n');
    const onDisk = readFileSync(join(data.dir, 'data', 'secrets', 'acme', 'crm_token.secret'));
    expect(onDisk.includes(Buffer.from(secret))).toBe(false);
    expect((await greentic(['secrets', 'set', '--data', 'data', '--global', '--tenant', 'acme', 'x'], 'v')).code).toBe(2);
    expect((await greentic(['secrets', 'delete', '--data', 'data', '--global', 'openai_key'])).code).toBe(0);
    expect((await greentic(['secrets', 'delete', '--data', 'data', '--global', 'openai_key'])).code).toBe(1);
  });
});

describe('greentic-host validate', () => {
  it('accepts the examples', async () => {
    expect(await greentic(['validate', '--bundle', EXAMPLES])).toMatchObject({
      code: 0,
      stdout: [
        'bundle greentic-demo is valid: 2 tenants, 3 teams, 4 channels, 3 flows',
        'acme/sales/teams: acme_sales_flow (named by the channel)',
        'acme/support/slack: acme_support_flow (default: {tenant}_{team}_flow)',
        'acme/support/telegram: acme_support_flow (default: {tenant}_{team}_flow)',
        'bigcorp/helpdesk/webchat: bigcorp_helpdesk_flow (default: {tenant}_{team}_flow)',
        '',
      ].join('\n'),
    });
  });

  it('reports every problem with file and path, and exits 1', async () => {
    const b = copyExamples();
    try {
      writeFiles(b.dir, {
        'tenants/acme/teams/support.yaml': { team: 'support', channels: { slack: { provider: 'pigeon', flow: 'acme_support_flow' } } },
        'tenants/bigcorp/flows/bigcorp_helpdesk_flow.yaml': {
          name: 'bigcorp_helpdesk_flow',
          version: '1',
          start: 'a',
          nodes: [{ id: 'a', type: 'reply', config: {}, next: 'b' }],
        },
      });
      const r = await greentic(['validate', '--bundle', b.dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /tenants\/acme\/teams\/support\.yaml: channels\.slack\.provider: unknown provider "pigeon"; expected one of "messaging-slack"\|/,
      );
      expect(r.stderr).toMatch(/bigcorp_helpdesk_flow\.yaml: nodes\.a\.next: no node "b" in this flow/);
      expect(r.stderr).toMatch(/bigcorp_helpdesk_flow\.yaml: nodes\.a\.config\.message: /);
      expect(r.stderr).toMatch(/\d+ problems in /);
    } finally {
      b.cleanup();
    }
  });
});

describe('greentic-host call', () => {
  it('runs one component under a scope and shows what it did', async () => {
    const reply = join(process.cwd(), 'build', 'components', 'reply', 'reply.wasm');
    const r = await greentic([
      'call',
      reply,
      '--tenant',
      'acme',
      '--env',
      'prod',
      '--team',
      'support',
      '--input',
      'hi',
      '--config',
      '{"message":"Hello {{name}}!"}',
      '--state',
      '{"name":"Ann"}',
    ]);
    expect(r).toMatchObject({ code: 0, stdout: 'reply: Hello Ann!\nnext: proceed\nstate: {"name":"Ann"}\n' });
    const json = await greentic(['call', reply, '--tenant', 'acme', '--env', 'prod', '--input', 'hi', '--config', '{"message":"x","end":true}', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ replies: ['x'], next: { tag: 'end' }, state: {}, denials: 0 });
  });

  it('shows the forger refused on every capability', async () => {
    const r = await greentic(['call', fixtureWasm('forger'), '--tenant', 'acme', '--env', 'prod', '--team', 'support', '--input', 'x']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('reply: secrets.get access-denied\n');
    // Each refusal is named, with its reason: seven capabilities, seven lines.
    const denied = r.stdout.split('\n').filter((l) => l.startsWith('denied: '));
    expect(denied).toHaveLength(7);
    for (const l of denied) expect(l).toMatch(/^denied: [a-z.-]+: ctx names tenant "bigcorp" but this call is bound to tenant "acme"$/);
    expect(r.stdout).not.toContain('ALLOWED');
  });

  it('explains a missing file and a core module that is not a component', async () => {
    expect((await greentic(['call', 'nope.wasm', '--tenant', 'acme', '--env', 'prod', '--input', 'x'])).stderr.trim()).toBe(
      'greentic-host call: nope.wasm: file not found',
    );
    writeFileSync(join(data.dir, 'core.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    writeFileSync(join(data.dir, 'junk.wasm'), 'hello');
    const core = await greentic(['call', 'core.wasm', '--tenant', 'acme', '--env', 'prod', '--input', 'x']);
    expect(core.code).toBe(1);
    expect(core.stderr).toContain('core.wasm: this is a core WebAssembly module, not a component');
    expect((await greentic(['call', 'junk.wasm', '--tenant', 'acme', '--env', 'prod', '--input', 'x'])).stderr).toContain(
      'junk.wasm: not a WebAssembly file (bad magic number)',
    );
  });
});
