// Environment equivalents of the main flags, --json on validate, secrets list and token issue,
// and shell completion: run in-process through main(), as the CLI runs them.
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../dist/cli/main.js';
import { copyExamples, EXAMPLES, tempDir, writeFiles } from '../support/bundle.js';

const data = tempDir('greentic-env-');
afterAll(() => data.cleanup());

async function run(argv: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    { out: (l) => out.push(l), err: (l) => err.push(l), stdin: Readable.from([stdin]) },
    { ...process.env, GREENTIC_LOG_LEVEL: 'warn', ...env },
  );
  return { code, out, err };
}

describe('environment equivalents of the main flags', () => {
  it('GREENTIC_BUNDLE and GREENTIC_DATA stand for --bundle and --data; a flag given wins', async () => {
    expect(await run(['validate'], { GREENTIC_BUNDLE: EXAMPLES })).toEqual({
      code: 0,
      out: [
        'bundle greentic-demo is valid: 2 tenants, 3 teams, 4 channels, 3 flows',
        'acme/sales/teams: acme_sales_flow (named by the channel)',
        'acme/support/slack: acme_support_flow (default: {tenant}_{team}_flow)',
        'acme/support/telegram: acme_support_flow (default: {tenant}_{team}_flow)',
        'bigcorp/helpdesk/webchat: bigcorp_helpdesk_flow (default: {tenant}_{team}_flow)',
      ],
      err: [],
    });
    expect((await run(['validate', '--bundle', EXAMPLES], { GREENTIC_BUNDLE: '/nonexistent' })).code).toBe(0);
    expect(await run(['secrets', 'set', '--tenant', 'acme', 'crm_token'], { GREENTIC_DATA: data.dir, GREENTIC_MASTER_KEY: '' }, 'v')).toMatchObject({
      code: 0,
    });
    expect(await run(['secrets', 'list', '--tenant', 'acme', '--json'], { GREENTIC_DATA: data.dir })).toEqual({
      code: 0,
      out: ['{"namespace":"acme/","secrets":["crm_token"]}'],
      err: [],
    });
  });

  it('a bad value is bad usage naming the variable, before the command runs', async () => {
    expect(await run(['serve'], { GREENTIC_PORT: '80x' })).toEqual({
      code: 2,
      out: [],
      err: ['greentic-host serve: GREENTIC_PORT must be a port number from 0 to 65535, got "80x"'],
    });
    expect(await run(['serve'], { GREENTIC_PORT: '65536' })).toMatchObject({ code: 2 });
    expect(await run(['send', 'hi'], { GREENTIC_NATS_URL: 'http://user:pw@x:4222' })).toEqual({
      code: 2,
      out: [],
      err: ['greentic-host send: GREENTIC_NATS_URL must be a URL like nats://127.0.0.1:4222, got "http://[redacted]@x:4222"'],
    });
    // Only the commands that take the flag read the variable.
    expect((await run(['validate', '--bundle', EXAMPLES], { GREENTIC_PORT: 'nope', GREENTIC_NATS_URL: 'nope' })).code).toBe(0);
  });
});

describe('--json', () => {
  it('validate prints one object: valid, counts and problems with file and path', async () => {
    const ok = await run(['validate', '--bundle', EXAMPLES, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out[0]!)).toEqual({ valid: true, bundle: 'greentic-demo', tenants: 2, teams: 3, channels: 4, flows: 3, problems: [] });
    const broken = copyExamples();
    try {
      writeFiles(broken.dir, {
        'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'x', nodes: [{ id: 'x', type: 'nosuch' }] },
      });
      const bad = await run(['validate', '--bundle', broken.dir, '--json']);
      expect(bad.code).toBe(1);
      const body = JSON.parse(bad.out[0]!);
      expect(body.valid).toBe(false);
      expect(body.problems).toEqual([
        {
          file: `${broken.dir}/tenants/acme/flows/acme_sales_flow.yaml`,
          path: 'nodes.x.type',
          message: 'unknown component type "nosuch" (tenant "acme" can use: ask, branch, handlebars, reply)',
          tenant: 'acme',
        },
      ]);
    } finally {
      broken.cleanup();
    }
  });

  it('send --id must be an id: it names the message a retry must not duplicate', async () => {
    expect(
      await run([
        'send',
        '--bundle',
        EXAMPLES,
        '--tenant',
        'acme',
        '--env',
        'prod',
        '--team',
        'support',
        '--channel',
        'slack',
        '--user',
        'u1',
        '--id',
        '../x',
        'hi',
      ]),
    ).toMatchObject({
      code: 2,
      out: [],
      err: ['greentic-host send: invalid message id "../x" in --id: it contains "."; ids match ^[a-z0-9][a-z0-9_-]{0,62}$ (see --help)'],
    });
  });

  it('--json on a secrets action other than list is bad usage', async () => {
    expect(await run(['secrets', 'delete', '--tenant', 'acme', 'x', '--json', '--data', data.dir])).toEqual({
      code: 2,
      out: [],
      err: ['greentic-host secrets: --json is for secrets list (see --help)'],
    });
  });
});

describe('shell completion', () => {
  it('prints a bash script that bash accepts, with every command and its flags', async () => {
    const r = await run(['completion', 'bash']);
    expect(r.code).toBe(0);
    const script = r.out.join('\n');
    const registered = execFileSync('bash', ['-c', `${script}\ncomplete -p greentic-host`], { encoding: 'utf8' });
    expect(registered.trim()).toBe('complete -o filenames -F _greentic_host greentic-host');
    // What bash offers after "greentic-host ", and after "greentic-host send --ti".
    const offer = (words: string) =>
      execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _greentic_host; echo "\${COMPREPLY[*]}"`], {
        encoding: 'utf8',
      }).trim();
    expect(offer('greentic-host ""').split(' ')).toEqual([
      'serve',
      'dev',
      'send',
      'call',
      'describe',
      'component',
      'pack',
      'validate',
      'reload',
      'secrets',
      'token',
      'dlq',
      'nats',
      'data',
      'completion',
      '--version',
      '--help',
    ]);
    expect(offer('greentic-host send --ti')).toBe('--timeout');
    expect(offer('greentic-host secrets ro')).toBe('rotate-key');
  });

  it('prints zsh and fish scripts, and refuses another shell', async () => {
    expect((await run(['completion', 'zsh'])).out.join('\n')).toContain('compdef _greentic_host greentic-host');
    expect((await run(['completion', 'fish'])).out.join('\n').split('\n')).toContain(
      "complete -c greentic-host -n '__fish_seen_subcommand_from serve' -l port",
    );
    expect(await run(['completion', 'tcsh'])).toEqual({
      code: 2,
      out: [],
      err: ['greentic-host completion: expected completion bash, zsh or fish, got "tcsh" (see --help)'],
    });
  });
});
