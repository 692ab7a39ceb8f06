import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyExamples } from '../support/bundle.js';
import { installSecretProber } from '../support/secret-prober.js';
import { ACME_SLACK, replies, startHost, type TestHost } from '../support/host.js';
import { startNats, type NatsServer } from '../support/nats.js';

process.env.GREENTIC_MASTER_KEY = 'cd'.repeat(32);
const SECRET_VALUE = 'sk-nats-AUDIT-never-stored-91c2';
let nats: NatsServer;
let h: TestHost;
const bundle = copyExamples();

beforeAll(async () => {
  nats = await startNats();
  installSecretProber(bundle.dir);
  h = await startHost({ bundleDir: bundle.dir, nats: { url: nats.url }, workers: 1, spare: false });
  expect(h.host.problems).toEqual([]);
});
afterAll(async () => {
  await h?.close();
  bundle.cleanup();
  await nats?.dispose();
});

describe('the audit log on NATS', () => {
  it("keeps a component's secret read in the tenant's own append-only stream, paged and filtered by time", async () => {
    await h.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_key', SECRET_VALUE);
    const out = JSON.parse(replies(await h.say(ACME_SLACK, 'u1', JSON.stringify({ calls: [{ fn: 'secrets.get', args: ['api_key'] }] })))[0]!);
    expect(out).toEqual([{ fn: 'secrets.get', ok: SECRET_VALUE }]);
    for (let i = 0; i < 4; i++) h.host.audit.record({ tenant: 'acme', actor: 'cli', action: 'secret.set', target: `secret:acme/k${i}`, outcome: 'ok' });
    h.host.audit.record({ tenant: 'bigcorp', actor: 'cli', action: 'secret.set', target: 'secret:bigcorp/theirs', outcome: 'ok' });
    await h.host.audit.flush();

    const first = await h.host.audit.read('acme', { limit: 2 });
    expect(first.records.map((r) => [r.actor, r.action, r.target])).toEqual([
      ['component:prober', 'secret.read', 'secret:api_key'],
      ['cli', 'secret.set', 'secret:acme/k0'],
    ]);
    const rest = await h.host.audit.read('acme', { limit: 10, cursor: first.next! });
    expect(rest.records.map((r) => r.target)).toEqual(['secret:acme/k1', 'secret:acme/k2', 'secret:acme/k3']);
    expect(rest.next).toBeNull();
    const since = await h.host.audit.read('acme', { limit: 10, since: Date.parse(rest.records[2]!.time) });
    expect(since.records.at(-1)!.target).toBe('secret:acme/k3');
    expect(since.records.every((r) => Date.parse(r.time) >= Date.parse(rest.records[2]!.time))).toBe(true);
    expect((await h.host.audit.read('bigcorp', { limit: 10 })).records.map((r) => r.target)).toEqual(['secret:bigcorp/theirs']);
    await expect(h.host.audit.read('acme', { limit: 1, cursor: 'x' })).rejects.toThrow('cursor "x" is not one this API gave');

    // The stream is the tenant's own, and refuses deletes and purges; it holds no secret value.
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info('GREENTIC_AUDIT_acme');
      expect(info.config).toMatchObject({ subjects: ['greentic.audit.acme'], deny_delete: true, deny_purge: true });
      expect(info.state.messages).toBe(5);
      await expect(jsm.streams.deleteMessage('GREENTIC_AUDIT_acme', 1)).rejects.toThrow(/message delete not permitted/);
      await expect(jsm.streams.purge('GREENTIC_AUDIT_acme')).rejects.toThrow(/purge not permitted/);
      for (let seq = 1; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage('GREENTIC_AUDIT_acme', { seq });
        expect(Buffer.from(m.data).toString('utf8')).not.toContain(SECRET_VALUE);
      }
    } finally {
      await nc.close();
    }
  });
});
