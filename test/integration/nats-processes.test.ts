import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '../../dist/messaging/conversation.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { CLI, EXAMPLES, tempDir } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT } from '../support/host.js';
import { answersById, egressMessages, natsClient } from '../support/nats-client.js';
import { startNats, type NatsServer } from '../support/nats.js';

let nats: NatsServer;
const data = tempDir('greentic-procs-');
const children: ChildProcess[] = [];
beforeAll(async () => {
  nats = await startNats();
});
afterEach(async () => {
  // Each test brings its own instances.
  await Promise.all(
    children.splice(0).map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => (c.once('exit', r), c.kill('SIGTERM'))) : undefined)),
  );
});
afterAll(async () => {
  await nats.dispose();
  data.cleanup();
});

/** `greentic-host serve` as a real process; resolves once it prints its ready line. */
async function serve(args: string[]): Promise<{ proc: ChildProcess; logs: () => Array<Record<string, unknown>> }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data', data.dir, ...args], {
    env: { ...process.env, GREENTIC_MASTER_KEY: 'ef'.repeat(32), GREENTIC_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('greentic-host ready')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`serve exited (${code}): ${out}\n${stderr}`)));
  });
  const logs = () =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { proc, logs };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('NATS deployments as real processes', () => {
  it('one of two instances is killed mid-load: the other finishes the work, each message answered once', async () => {
    const a = await serve(['--bundle', EXAMPLES, '--nats', nats.url, '--ack-wait', '1500']);
    await serve(['--bundle', EXAMPLES, '--nats', nats.url, '--ack-wait', '1500']);
    const client = await natsClient(nats.url);
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const id = newMessageId();
      ids.push(id);
      await client.publishDurable(ingressSubject(i % 2 ? ACME_SLACK : BIGCORP_WEBCHAT), encodeJson({ id, user: `k${i}`, text: 'hello' }), id);
    }
    // Kill one instance while the work is under way.
    await until(async () => answersById(await egressMessages(client.nc)).size >= 10, 20_000);
    a.proc.kill('SIGKILL');
    await until(async () => answersById(await egressMessages(client.nc)).size >= ids.length, 30_000);
    const counts = answersById(await egressMessages(client.nc));
    for (const id of ids) expect(counts.get(id), id).toBe(1);
    await client.close();
  });

  it('hybrid from the example config files: bigcorp only ever reaches its dedicated instance', async () => {
    const configs = join(EXAMPLES, 'deployments', 'hybrid');
    const dedicated = await serve(['--config', join(configs, 'dedicated-bigcorp.yaml'), '--nats', nats.url]);
    const shared = await serve(['--config', join(configs, 'shared.yaml'), '--nats', nats.url]);
    const client = await natsClient(nats.url);
    const ids = new Map<string, string>();
    for (let i = 0; i < 10; i++) {
      for (const [tenant, addr] of [
        ['bigcorp', BIGCORP_WEBCHAT],
        ['acme', ACME_SLACK],
      ] as const) {
        const id = newMessageId();
        ids.set(id, tenant);
        await client.publishDurable(ingressSubject(addr), encodeJson({ id, user: `hy${i}`, text: 'hello' }), id);
      }
    }
    await until(async () => {
      const counts = answersById(await egressMessages(client.nc));
      return [...ids.keys()].every((id) => counts.get(id) === 1);
    }, 30_000);
    const turns = (logs: Array<Record<string, unknown>>, tenant: string) =>
      logs.filter((l) => l.event === 'turn' && l.tenant_id === tenant && ids.has(l.message_id as string)).length;
    // A turn is logged after its replies' acks come back, which on a busy machine can trail the stored replies.
    await until(async () => turns(dedicated.logs(), 'bigcorp') + turns(shared.logs(), 'acme') >= 20, 10_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(turns(dedicated.logs(), 'bigcorp')).toBe(10);
    expect(turns(dedicated.logs(), 'acme')).toBe(0);
    expect(turns(shared.logs(), 'acme')).toBe(10);
    expect(turns(shared.logs(), 'bigcorp')).toBe(0);
    await client.close();
  });
});

describe("the README's walkthrough with an account per tenant", () => {
  it('the example instance files serve each tenant in its account; each provider reaches only its own', async () => {
    const secure = await startNats(readFileSync(join(EXAMPLES, 'deployments', 'nats', 'nats-server.conf'), 'utf8'));
    try {
      Object.assign(process.env, {
        GREENTIC_NATS_PASSWORD: 'host-demo',
        GREENTIC_NATS_BIGCORP_PASSWORD: 'host-bigcorp-demo',
        GREENTIC_NATS_ACME_PASSWORD: 'host-acme-demo',
      });
      const configs = join(EXAMPLES, 'deployments', 'nats');
      await serve(['--config', join(configs, 'dedicated-bigcorp.yaml'), '--nats', secure.url]);
      await serve(['--config', join(configs, 'shared.yaml'), '--nats', secure.url]);
      const send = (user: string, password: string, tenant: string, team: string, channel: string) =>
        promisify(execFile)(
          process.execPath,
          [
            CLI,
            'send',
            '--nats',
            `nats://${user}:${password}@127.0.0.1:${secure.port}`,
            '--inbox-prefix',
            `_INBOX_${user}`,
            '--tenant',
            tenant,
            '--env',
            'prod',
            '--team',
            team,
            '--channel',
            channel,
            '--user',
            'w1',
            '--timeout',
            '15000',
            'hello',
          ],
          { env: { ...process.env, GREENTIC_LOG_LEVEL: 'fatal' } },
        );
      expect((await send('provider_acme', 'provider-acme-demo', 'acme', 'support', 'slack')).stdout).toBe('Welcome to ACME Support! How can I help?\n');
      expect((await send('provider_bigcorp', 'provider-bigcorp-demo', 'bigcorp', 'helpdesk', 'webchat')).stdout).toBe(
        "BigCorp Helpdesk here. What's your issue?\n",
      );
      // acme's provider publishing to bigcorp: refused by the server, so no answer comes.
      const refused = await send('provider_acme', 'provider-acme-demo', 'bigcorp', 'helpdesk', 'webchat').catch((e: { code: number; stderr: string }) => e);
      expect((refused as { code: number }).code).toBe(1);
      expect((refused as { stderr: string }).stderr).toContain(
        'Permissions Violation for Publish to \"greentic.messaging.ingress.prod.bigcorp.helpdesk.webchat\"',
      );
      expect((refused as { stderr: string }).stderr).not.toContain('provider-acme-demo');
    } finally {
      await Promise.all(children.splice(0).map((c) => (c.exitCode === null ? new Promise((r) => (c.once('exit', r), c.kill('SIGTERM'))) : undefined)));
      await secure.dispose();
    }
  }, 90_000);
});
