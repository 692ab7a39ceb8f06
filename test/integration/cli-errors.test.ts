// Every command, run as a child process with each kind of bad input an operator or an author
// gives it (files, keys, environment variables, flags, ids): each failure is one line naming
// what, where and the fix, with the documented exit code, and never a stack trace.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { masterKeyId } from '../../dist/stores/key-id.js';
import { CLI, EXAMPLES, fixtureWasm, tempDir } from '../support/bundle.js';

const work = tempDir('greentic-cli-errors-');
afterAll(() => work.cleanup());
const T = work.dir;
const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
/** Running as root, a mode 0555 folder is still writable: the not-writable cases run as nobody. */
const AS_NOBODY = process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function greentic(args: readonly string[], opts: { env?: Record<string, string>; stdin?: string; nobody?: boolean } = {}): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, GREENTIC_LOG_LEVEL: 'warn', ...opts.env };
  delete env.GREENTIC_MASTER_KEY;
  delete env.GREENTIC_DEBUG;
  if (opts.env?.GREENTIC_MASTER_KEY) env.GREENTIC_MASTER_KEY = opts.env.GREENTIC_MASTER_KEY;
  const [file, argv] =
    opts.nobody && AS_NOBODY
      ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args]]
      : [process.execPath, [CLI, ...args]];
  return new Promise((resolve) => {
    const child = execFile(file, argv, { cwd: T, env, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(opts.stdin ?? '');
  });
}

/** Stderr with the temporary folder written as $T, so expected lines can be exact. */
const shown = (r: Run) => r.stderr.split(T).join('$T');

beforeAll(async () => {
  writeFileSync(join(T, 'afile'), 'not a directory\n');
  mkdirSync(join(T, 'ro'), { mode: 0o555 });
  chmodSync(T, 0o755);
  chmodSync(join(T, 'ro'), 0o555);
  mkdirSync(join(T, 'loose'));
  writeFileSync(join(T, 'loose', 'master.key'), `${KEY_A}\n`, { mode: 0o644 });
  chmodSync(join(T, 'loose', 'master.key'), 0o644);
  writeFileSync(join(T, 'rsa1.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }));
  writeFileSync(join(T, 'rsa8.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  // Secrets sealed under key A: every later command under key B must be refused.
  const set = await greentic(['secrets', 'set', '--data', 'sealed', '--tenant', 'acme', 'api_jwt_secret'], {
    env: { GREENTIC_MASTER_KEY: KEY_A },
    stdin: 's3cret-value',
  });
  expect(set).toMatchObject({ code: 0, stderr: 'stored acme/api_jwt_secret (encrypted)\n' });
});

const SEND = ['--tenant', 'acme', '--env', 'prod', '--team', 'support', '--channel', 'slack', '--user', 'u1'];
const TOKEN = ['token', 'issue', '--bundle', EXAMPLES, '--tenant', 'bigcorp', '--team', 'helpdesk', '--scope', 'read', '--data', 'd'];
const ACME_TOKEN = ['token', 'issue', '--bundle', EXAMPLES, '--tenant', 'acme', '--team', 'support', '--scope', 'read'];
const idOf = (hex: string) => masterKeyId(Buffer.from(hex, 'hex'));
const MISMATCH = `holds secrets sealed with master key id ${idOf(KEY_A)}, but the key in use (GREENTIC_MASTER_KEY, or DATA/master.key when it is not set) has id ${idOf(KEY_B)}: use the key they were sealed with, or re-seal them under the new key with greentic-host secrets rotate-key`;
const BAD_KEY = 'GREENTIC_MASTER_KEY must hold a 32-byte key as 64 hex digits or base64';
const LOOSE = 'master key file $T/loose/master.key is readable by others (mode 644); run chmod 600 on it';
const LEVEL = 'GREENTIC_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"';
const NOT_A_DIR = '--data afile is a file, not a directory (give a directory; it is created if missing) (see --help)';

interface Case {
  readonly what: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  readonly stdin?: string;
  readonly nobody?: boolean;
  readonly code: number;
  /** The whole of stderr, one line (or the last line, for commands that print progress first). */
  readonly line: string;
}

const CASES: Case[] = [
  // files and folders
  {
    what: 'a data dir that is a file (secrets)',
    args: ['secrets', 'set', '--data', 'afile', '--tenant', 'acme', 'x'],
    stdin: 'v',
    code: 2,
    line: `greentic-host secrets: ${NOT_A_DIR}`,
  },
  {
    what: 'a data dir that is a file (send)',
    args: ['send', '--bundle', EXAMPLES, '--data', 'afile', ...SEND, 'hi'],
    code: 2,
    line: `greentic-host send: ${NOT_A_DIR}`,
  },
  {
    what: 'a data dir that is a file (serve)',
    args: ['serve', '--bundle', EXAMPLES, '--data', 'afile', '--port', '0'],
    code: 2,
    line: `greentic-host serve: ${NOT_A_DIR}`,
  },
  { what: 'a data dir that is a file (token)', args: [...ACME_TOKEN, '--data', 'afile'], code: 2, line: `greentic-host token: ${NOT_A_DIR}` },
  {
    what: 'a data dir that is a file (call)',
    args: ['call', fixtureWasm('forger'), '--tenant', 'acme', '--env', 'prod', '--input', 'x', '--data', 'afile'],
    code: 2,
    line: `greentic-host call: ${NOT_A_DIR}`,
  },
  {
    what: 'a data dir that cannot be written (secrets set)',
    args: ['secrets', 'set', '--data', 'ro/d', '--tenant', 'acme', 'x'],
    stdin: 'v',
    nobody: true,
    code: 1,
    line: 'greentic-host secrets: cannot create the master key file $T/ro/d/master.key: permission denied (EACCES)',
  },
  {
    what: 'a data dir that cannot be written (send)',
    args: ['send', '--bundle', EXAMPLES, '--data', 'ro', ...SEND, 'hi'],
    nobody: true,
    code: 1,
    line: 'greentic-host send: data directory $T/ro cannot be written: permission denied (EACCES); give this user (uid 65534) write access, or choose another with --data',
  },
  {
    what: 'a bundle that does not exist',
    args: ['validate', '--bundle', 'nowhere'],
    code: 1,
    line: 'greentic-host validate: nowhere: bundle directory not found',
  },
  {
    what: 'a --config file that does not exist',
    args: ['serve', '--config', 'nowhere.yaml'],
    code: 1,
    line: 'greentic-host serve: nowhere.yaml: file not found',
  },
  {
    what: 'a component file that does not exist',
    args: ['call', 'nowhere.wasm', '--tenant', 'acme', '--env', 'prod', '--input', 'x'],
    code: 1,
    line: 'greentic-host call: nowhere.wasm: file not found',
  },
  {
    what: 'a component that is not wasm',
    args: ['describe', 'afile'],
    code: 1,
    line: 'greentic-host describe: $T/afile: not a WebAssembly file (bad magic number)',
  },
  {
    what: 'a component folder that does not exist',
    args: ['component', 'build', 'nowhere'],
    code: 1,
    line: 'greentic-host component: nowhere: no such directory',
  },
  // keys
  { what: 'token issue --key missing', args: [...TOKEN, '--key', 'nowhere.pem'], code: 1, line: 'greentic-host token: --key nowhere.pem: no such file' },
  {
    what: 'token issue --key not PEM',
    args: [...TOKEN, '--key', 'afile'],
    code: 1,
    line: 'greentic-host token: --key afile is not a PKCS8 PEM private key: expected a PKCS8 PEM private key (-----BEGIN PRIVATE KEY-----)',
  },
  {
    what: 'token issue --key in PKCS1',
    args: [...TOKEN, '--key', 'rsa1.pem'],
    code: 1,
    line: 'greentic-host token: --key rsa1.pem is not a PKCS8 PEM private key: convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8.pem',
  },
  {
    what: 'token issue --key of another algorithm',
    args: [...TOKEN, '--key', 'rsa8.pem'],
    code: 1,
    line: "greentic-host token: --key rsa8.pem: not an EdDSA private key, which the tenant's api.keys[0] needs (Invalid key type)",
  },
  {
    what: 'GREENTIC_MASTER_KEY malformed (secrets)',
    args: ['secrets', 'list', '--data', 'd', '--tenant', 'acme'],
    env: { GREENTIC_MASTER_KEY: 'abc' },
    code: 1,
    line: `greentic-host secrets: ${BAD_KEY}`,
  },
  {
    what: 'GREENTIC_MASTER_KEY malformed (send)',
    args: ['send', '--bundle', EXAMPLES, '--data', 'd', ...SEND, 'hi'],
    env: { GREENTIC_MASTER_KEY: 'abc' },
    code: 1,
    line: `greentic-host send: ${BAD_KEY}`,
  },
  {
    what: 'GREENTIC_MASTER_KEY malformed (serve)',
    args: ['serve', '--bundle', EXAMPLES, '--data', 'd', '--port', '0'],
    env: { GREENTIC_MASTER_KEY: 'abc' },
    code: 1,
    line: `greentic-host serve: ${BAD_KEY}`,
  },
  {
    what: 'GREENTIC_MASTER_KEY malformed (token)',
    args: [...ACME_TOKEN, '--data', 'd'],
    env: { GREENTIC_MASTER_KEY: 'abc' },
    code: 1,
    line: `greentic-host token: ${BAD_KEY}`,
  },
  {
    what: 'master.key mode 0644 (secrets)',
    args: ['secrets', 'list', '--data', 'loose', '--tenant', 'acme'],
    code: 1,
    line: `greentic-host secrets: ${LOOSE}`,
  },
  {
    what: 'master.key mode 0644 (serve)',
    args: ['serve', '--bundle', EXAMPLES, '--data', 'loose', '--port', '0'],
    code: 1,
    line: `greentic-host serve: ${LOOSE}`,
  },
  {
    what: 'another master key than the secrets were sealed with (secrets set)',
    args: ['secrets', 'set', '--data', 'sealed', '--tenant', 'acme', 'other'],
    env: { GREENTIC_MASTER_KEY: KEY_B },
    stdin: 'v',
    code: 1,
    line: `greentic-host secrets: $T/sealed/secrets/ ${MISMATCH}`,
  },
  {
    what: 'another master key than the secrets were sealed with (token)',
    args: [...ACME_TOKEN, '--data', 'sealed'],
    env: { GREENTIC_MASTER_KEY: KEY_B },
    code: 1,
    line: `greentic-host token: $T/sealed/secrets/ ${MISMATCH}`,
  },
  {
    what: 'another master key than the secrets were sealed with (serve)',
    args: ['serve', '--bundle', EXAMPLES, '--data', 'sealed', '--port', '0'],
    env: { GREENTIC_MASTER_KEY: KEY_B },
    code: 1,
    line: `greentic-host serve: $T/sealed/secrets/ ${MISMATCH}`,
  },
  {
    what: 'rotate-key with GREENTIC_MASTER_KEY and no new key',
    args: ['secrets', 'rotate-key', '--data', 'sealed'],
    env: { GREENTIC_MASTER_KEY: KEY_A },
    code: 2,
    line: 'greentic-host secrets: GREENTIC_MASTER_KEY is set: give the new key in GREENTIC_NEW_MASTER_KEY (e.g. from openssl rand -hex 32) or --new-key-file FILE (see --help)',
  },
  // environment variables
  ...['serve', 'send', 'call', 'describe', 'validate', 'secrets', 'token', 'component', 'nats'].map((cmd): Case => ({
    what: `unknown GREENTIC_LOG_LEVEL (${cmd})`,
    args: [cmd, '--help'],
    env: { GREENTIC_LOG_LEVEL: 'loud' },
    code: 2,
    line: `greentic-host ${cmd}: ${LEVEL}`,
  })),
  // flags
  { what: 'an unknown flag', args: ['validate', '--bundel', EXAMPLES], code: 2, line: "greentic-host validate: Unknown option '--bundel' (see --help)" },
  {
    what: 'a flag without its value',
    args: ['send', '--bundle'],
    code: 2,
    line: "greentic-host send: Option '--bundle <value>' argument missing (see --help)",
  },
  {
    what: 'a port that is not a number',
    args: ['serve', '--bundle', EXAMPLES, '--port', 'abc'],
    code: 2,
    line: 'greentic-host serve: --port must be a whole number from 0 to 65535, got "abc" (see --help)',
  },
  {
    what: 'an unknown --stores',
    args: ['serve', '--bundle', EXAMPLES, '--stores', 'redis'],
    code: 2,
    line: 'greentic-host serve: --stores must be embedded or nats, got "redis" (see --help)',
  },
  {
    what: 'a --ttl out of range',
    args: [...ACME_TOKEN, '--ttl', '9y'],
    code: 2,
    line: 'greentic-host token: --ttl must look like 90s, 15m, 1h or 7d (at most a year), got "9y" (see --help)',
  },
  {
    what: 'a --config JSON that is not JSON',
    args: ['call', fixtureWasm('forger'), '--tenant', 'acme', '--env', 'prod', '--input', 'x', '--config', '{'],
    code: 2,
    line: "greentic-host call: --config is not valid JSON: Expected property name or '}' in JSON at position 1 (see --help)",
  },
  {
    what: 'an unknown command',
    args: ['frobnicate'],
    code: 2,
    line: 'greentic-host: unknown command "frobnicate" (commands: serve, send, call, describe, component, pack, validate, reload, secrets, token, dlq, nats, data, completion)',
  },
  {
    what: 'an unknown secrets action',
    args: ['secrets', 'show', '--tenant', 'acme'],
    code: 2,
    line: 'greentic-host secrets: expected set, list, delete or rotate-key, got "show" (see --help)',
  },
  // ids
  {
    what: 'a tenant id outside the grammar',
    args: ['secrets', 'list', '--tenant', 'Acme'],
    code: 2,
    line: 'greentic-host secrets: invalid tenant id "Acme" in --tenant: it has upper-case letters; ids are lower case (^[a-z0-9][a-z0-9_-]{0,62}$) (see --help)',
  },
  {
    what: 'a session id with a path in it',
    args: ['send', '--bundle', EXAMPLES, ...SEND, '--session', '../x', 'hi'],
    code: 2,
    line: 'greentic-host send: invalid session id "../x" in --session: it contains "."; ids match ^[a-z0-9][a-z0-9_-]{0,62}$ (see --help)',
  },
  {
    what: 'serve --tenants naming a tenant the bundle does not have',
    args: ['serve', '--bundle', EXAMPLES, '--data', 'd', '--port', '0', '--tenants', 'acme,nobody'],
    code: 1,
    line: 'greentic-host serve: --tenants/--exclude-tenants name 1 tenant not in the bundle: nobody (its tenants: acme, bigcorp)',
  },
  {
    what: 'serve --exclude-tenants naming a tenant the bundle does not have',
    args: ['serve', '--bundle', EXAMPLES, '--data', 'd', '--port', '0', '--exclude-tenants', 'bigcrop'],
    code: 1,
    line: 'greentic-host serve: --tenants/--exclude-tenants name 1 tenant not in the bundle: bigcrop (its tenants: acme, bigcorp)',
  },
  // services
  {
    what: 'a NATS server that is not there',
    args: ['secrets', 'list', '--tenant', 'acme', '--nats', 'nats://user:pw@127.0.0.1:1'],
    code: 1,
    line: 'greentic-host secrets: cannot connect to NATS at nats://user:[redacted]@127.0.0.1:1 as user: connection refused (gave up after 1 attempt, waiting at most 1 ms)',
  },
];

describe('every command, every kind of bad input: one line, the documented exit code, no stack', () => {
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const r = await greentic(c.args, c);
    const err = shown(r);
    expect(err).not.toMatch(/\n\s+at |internal error/);
    // Progress lines of serve go to stdout; stderr holds the failure alone.
    expect(err).toBe(`${c.line}\n`);
    expect(r.code).toBe(c.code);
  });

  it('--debug adds the stack of the failure after its line; the line stays the same', async () => {
    const r = await greentic(['--debug', ...TOKEN, '--key', 'afile']);
    expect(r.code).toBe(1);
    const [first, ...rest] = shown(r).trimEnd().split('\n');
    expect(first).toBe('greentic-host token: --key afile is not a PKCS8 PEM private key: expected a PKCS8 PEM private key (-----BEGIN PRIVATE KEY-----)');
    expect(rest[0]).toMatch(/^\w+: --key afile is not a PKCS8 PEM private key/);
    expect(rest.slice(1).every((l) => /^\s+at /.test(l))).toBe(true);
  });

  it('--version prints the version and the Node.js it runs on', async () => {
    for (const flag of ['--version', '-V']) {
      expect(await greentic([flag])).toEqual({ code: 0, stdout: `greentic-host 0.1.0 (Node.js ${process.version})\n`, stderr: '' });
    }
  });
});
