import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { converse } from '../../dist/messaging/conversation.js';
import { CLI, EXAMPLES, tempDir } from '../support/bundle.js';
import { ACME_SLACK } from '../support/host.js';
import { natsClient } from '../support/nats-client.js';
import { freePort, startNats, type NatsServer } from '../support/nats.js';

const data = tempDir('greentic-startup-');
const servers: NatsServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.dispose();
  data.cleanup();
});

interface Run {
  readonly out: () => string;
  readonly err: () => string;
  readonly exited: Promise<number | null>;
  /** Resolves when stdout has a line matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** `greentic-host ARGS` as a real process, its whole output kept. */
function run(args: string[], env: Record<string, string> = {}): Run {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, GREENTIC_MASTER_KEY: 'ef'.repeat(32), GREENTIC_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    out: () => out,
    err: () => err,
    exited,
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
        const check = () => {
          const line = out.split('\n').find((l) => re.test(l));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(line);
          } else if (proc.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`exited (${proc.exitCode}) before a line matching ${re}:\n${out}\n${err}`));
          } else setTimeout(check, 50);
        };
        check();
      }),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}
const serveArgs = (url: string, ...more: string[]) => [
  'serve',
  '--bundle',
  EXAMPLES,
  '--data',
  data.dir,
  '--port',
  '0',
  '--workers',
  '1',
  '--nats',
  url,
  ...more,
];

describe('NATS at start', () => {
  it('without JetStream: one clear line and exit 1, no stack, no hang', async () => {
    const plain = await startNats(undefined, { jetstream: false });
    servers.push(plain);
    const r = run(serveArgs(plain.url));
    expect(await r.exited).toBe(1);
    const lines = r.err().trim().split('\n');
    expect(lines.at(-1)).toBe(
      `greentic-host serve: NATS at ${plain.url} has no JetStream (no responders: '$JS.API.INFO'): start nats-server with -js (and enable jetstream for the account), then start again`,
    );
    expect(r.err()).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('down at start: serve waits with a line per attempt, and uses a server started 3 s later', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const r = run(serveArgs(url));
    try {
      expect(await r.waitFor(/attempt 1:/)).toBe(`  NATS at ${url} is not reachable (attempt 1: connection refused); retrying in 0.5 s`);
      await new Promise((res) => setTimeout(res, 3000));
      servers.push(await startNats(undefined, { port }));
      await r.waitFor(/^greentic-host ready/);
      expect(r.out()).toMatch(/attempt 3: connection refused\); retrying in 2\.0 s/);
      const client = await natsClient(url);
      expect(await converse(client, ACME_SLACK, { user: 'late', text: 'hello' }, 20_000)).toMatchObject({
        ok: true,
        replies: ['Welcome to ACME Support! How can I help?'],
      });
      await client.close();
    } finally {
      await r.stop();
    }
  }, 60_000);

  it('--nats-wait bounds the wait: a clear line, exit 1', async () => {
    const port = await freePort();
    const r = run(serveArgs(`nats://127.0.0.1:${port}`, '--nats-wait', '1200'));
    expect(await r.exited).toBe(1);
    expect(r.err().trim().split('\n').at(-1)).toBe(
      `greentic-host serve: cannot connect to NATS at nats://127.0.0.1:${port}: connection refused (gave up after 2 attempts, waiting at most 1200 ms)`,
    );
  }, 30_000);
});

describe('credentials never appear in output', () => {
  const conf = readFileSync(join(EXAMPLES, 'deployments', 'nats', 'nats-server.conf'), 'utf8');
  let secure: NatsServer;

  it('a refused user:password URL prints the user, never the password, anywhere in the run', async () => {
    secure = await startNats(conf);
    servers.push(secure);
    const url = `nats://host:Wr0ngPassw0rd-7f3a@127.0.0.1:${secure.port}`;
    const r = run(serveArgs(url));
    expect(await r.exited).toBe(1);
    const all = r.out() + r.err();
    expect(all).not.toContain('Wr0ngPassw0rd-7f3a');
    expect(r.err().trim().split('\n').at(-1)).toBe(
      `greentic-host serve: cannot connect to NATS at nats://host:[redacted]@127.0.0.1:${secure.port} as host: the server refused the credentials (Authorization Violation)`,
    );
  }, 30_000);

  it('a user that may not look up or create the streams: one clear line and exit 1, no hang', async () => {
    const r = run(serveArgs(`nats://provider_acme:provider-acme-demo@127.0.0.1:${secure.port}`, '--tenants', 'acme'));
    expect(await r.exited).toBe(1);
    expect(r.err().trim().split('\n').at(-1)).toMatch(
      /^greentic-host serve: cannot look up stream KV_greentic_secrets_global as NATS user provider_acme: Permissions Violation for /,
    );
    expect(r.err()).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('a token URL and a working password URL are redacted in every line of a whole serve run', async () => {
    const token = run(serveArgs(`nats://SUAB3TOKENSECRETzz@127.0.0.1:${secure.port}`));
    expect(await token.exited).toBe(1);
    expect(token.out() + token.err()).not.toContain('SUAB3TOKENSECRETzz');
    // A good password: the ready line, the logs of a served message, of a server restart and of the stop.
    const good = run(serveArgs(`nats://admin:admin-demo@127.0.0.1:${secure.port}`, '--tenants', 'acme'));
    try {
      await good.waitFor(/^greentic-host ready/);
      expect(good.out()).toContain(`NATS nats://admin:[redacted]@127.0.0.1:${secure.port}`);
      const client = await natsClient(`nats://admin:admin-demo@127.0.0.1:${secure.port}`);
      expect(await converse(client, ACME_SLACK, { user: 'cred', text: 'hello' }, 20_000)).toMatchObject({ ok: true });
      await client.close();
      await secure.restart();
      await new Promise((res) => setTimeout(res, 1500));
    } finally {
      await good.stop();
    }
    const all = good.out() + good.err();
    expect(all).toMatch(/nats-reconnected|nats-disconnected/);
    expect(all).not.toContain('admin-demo');
  }, 60_000);
});
