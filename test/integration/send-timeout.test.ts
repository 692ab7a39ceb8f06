// `send --nats` when nothing answers: one line saying what timed out and how to retry without a
// second turn (--id), exit 1, within the --timeout asked for (also when the tenant's ingress
// stream does not exist, where the durable publish used to retry for a minute and then crash).
import { execFile } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../dist/messaging/nats/connection.js';
import { ingressStream } from '../../dist/messaging/nats/resources.js';
import { CLI } from '../support/bundle.js';
import { memoryLogger } from '../support/logs.js';
import { startNats, type NatsServer } from '../support/nats.js';

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.dispose();
});

function send(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, GREENTIC_LOG_LEVEL: 'error' };
  delete env.GREENTIC_DEBUG;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'send', '--nats', nats.url, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const ACME = ['--tenant', 'acme', '--env', 'prod', '--team', 'support', '--channel', 'slack', '--user', 'u1'];
const timedOut = (id: string) =>
  `greentic-host send: no answer from acme/prod/support/slack within 700 ms: is a host serving tenant "acme" on this NATS server? ` +
  `The message (id ${id}) may still be handled; to retry without it being handled twice, add --id ${id}\n`;

describe('send --nats with no answer', () => {
  it('no stream for the tenant (no host ever served it here): times out at --timeout with the one-line hint', async () => {
    expect(await send([...ACME, '--id', 'm-nostream', '--timeout', '700', 'hi'])).toEqual({ code: 1, stdout: '', stderr: timedOut('m-nostream') });
  });

  it('a stream but no host consuming it: the same line; a retry with the same --id is stored once', async () => {
    const nc = await connectNats({ url: nats.url, name: 'send-timeout-test' }, memoryLogger('warn').logger);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: ingressStream('acme'), subjects: ['greentic.messaging.ingress.prod.acme.>'], duplicate_window: 120_000_000_000 });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        expect(await send([...ACME, '--id', 'm-retry', '--timeout', '700', 'hi'])).toEqual({ code: 1, stdout: '', stderr: timedOut('m-retry') });
      }
      expect((await jsm.streams.info(ingressStream('acme'))).state.messages).toBe(1);
    } finally {
      await nc.close();
    }
  });
});
