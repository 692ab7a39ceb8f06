import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { ACME_SLACK, startHost, type TestHost } from '../support/host.js';

let h: TestHost;
beforeAll(async () => {
  h = await startHost({ workers: 1, spare: false, tenants: ['acme'] });
});
afterAll(async () => {
  await h.close();
});

describe('dead letters on the embedded defaults', () => {
  it('a malformed message is answered and kept as a file of its tenant, with its reason', async () => {
    await h.host.bus.publish(ingressSubject(ACME_SLACK), new TextEncoder().encode('{"id":"a\\r\\nb","user":"u","text":"hi"}'));
    await h.host.bus.drain();
    for (let i = 0; i < 50 && (await h.host.deadLetters.list('acme')).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const [letter, ...more] = await h.host.deadLetters.list('acme');
    expect(more).toEqual([]);
    expect(letter).toMatchObject({ tenant: 'acme', source: 'ingress', reason: 'invalid-message', subject: ingressSubject(ACME_SLACK), deliveries: 1 });
    expect(letter!.detail).toBe('ingress message rejected: id: invalid message id "a\\r\\nb": it contains whitespace; ids match ^[a-z0-9][a-z0-9_-]{0,62}$');
    expect(readdirSync(join(h.dataDir, 'deadletters', 'acme'))).toEqual([`${letter!.id}.cbor`]);
    expect(h.logs.lines.filter((l) => l.event === 'dead-letter')).toHaveLength(1);
  });
});
