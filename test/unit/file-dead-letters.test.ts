import { mkdirSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FileDeadLetterStore } from '../../dist/stores/file-dead-letters.js';
import type { DeadLetterInput } from '../../dist/stores/dead-letters.js';
import { tempDir } from '../support/bundle.js';

const dirs: Array<{ cleanup: () => void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));
function store(max?: number): { store: FileDeadLetterStore; dir: string } {
  const d = tempDir('greentic-dlq-');
  dirs.push(d);
  return { store: new FileDeadLetterStore(d.dir, max), dir: d.dir };
}
const letter = (tenant: string, extra: Partial<DeadLetterInput> = {}): DeadLetterInput => ({
  tenant,
  source: 'ingress',
  subject: `greentic.messaging.ingress.prod.${tenant}.support.slack`,
  data: new TextEncoder().encode('{"id":"bad id"}'),
  reason: 'invalid-message',
  detail: 'ingress message rejected',
  deliveries: 1,
  ...extra,
});

describe('file dead-letter store (embedded defaults)', () => {
  it('records, lists oldest first, gets, replays on the same subject with a fresh id, and deletes', async () => {
    const { store: s } = store();
    const a = await s.record(letter('acme'));
    const b = await s.record(letter('acme', { reason: 'corrupt-session', detail: 'session x is not valid CBOR' }));
    expect((await s.list('acme')).map((l) => l.id)).toEqual([a, b].sort());
    expect(await s.get('acme', b)).toMatchObject({ tenant: 'acme', reason: 'corrupt-session', detail: 'session x is not valid CBOR', deliveries: 1 });
    expect(await s.list('acme', { after: a })).toHaveLength(1);
    const published: Array<[string, string, string]> = [];
    expect(await s.replay('acme', a, { publishDurable: async (subj, data, id) => void published.push([subj, Buffer.from(data).toString(), id]) })).toBe(true);
    expect(published).toHaveLength(1);
    expect(published[0]!.slice(0, 2)).toEqual(['greentic.messaging.ingress.prod.acme.support.slack', '{"id":"bad id"}']);
    expect(published[0]![2]).toMatch(new RegExp(`^replay-${a}-[0-9a-z]+$`));
    expect(await s.get('acme', a)).toBeNull();
    expect(await s.delete('acme', b)).toBe(true);
    expect(await s.delete('acme', b)).toBe(false);
    expect(await s.list('acme')).toEqual([]);
  });

  it("keeps each tenant's letters apart: another tenant's id, a copied file, a foreign subject", async () => {
    const { store: s, dir } = store();
    const a = await s.record(letter('acme'));
    expect(await s.get('bigcorp', a)).toBeNull();
    expect(await s.delete('bigcorp', a)).toBe(false);
    expect(await s.replay('bigcorp', a, { publishDurable: async () => expect.unreachable() })).toBe(false);
    // A file copied into bigcorp's folder still names acme: not bigcorp's letter.
    mkdirSync(join(dir, 'deadletters', 'bigcorp'), { recursive: true });
    copyFileSync(join(dir, 'deadletters', 'acme', `${a}.cbor`), join(dir, 'deadletters', 'bigcorp', `${a}.cbor`));
    expect(await s.get('bigcorp', a)).toBeNull();
    await expect(s.record(letter('bigcorp', { subject: 'greentic.messaging.ingress.prod.acme.support.slack' }))).rejects.toThrow(
      'dead letter subject "greentic.messaging.ingress.prod.acme.support.slack" is not a channel subject of tenant bigcorp',
    );
    await expect(s.record(letter('../acme'))).rejects.toThrow(/invalid tenant id "..\/acme" in dead letter/);
  });

  it('ids of any shape from outside are simply not found, never a path', async () => {
    const { store: s, dir } = store();
    await s.record(letter('acme'));
    writeFileSync(join(dir, 'secret.cbor'), 'x');
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.constantFrom('..', '../secret', 'constructor', '__proto__', 'd/../../secret', 'd000')), async (id) => {
        expect(await s.get('acme', id)).toBeNull();
        expect(await s.delete('acme', id)).toBe(false);
      }),
      { numRuns: 200 },
    );
    expect(readdirSync(join(dir, 'deadletters', 'acme'))).toHaveLength(1);
  });

  it('is bounded per tenant, and bounds and redacts each detail', async () => {
    const { store: s } = store(2);
    await s.record(letter('acme', { detail: `failed at nats://u:pw123@h ${'x'.repeat(5000)}` }));
    await s.record(letter('acme'));
    await expect(s.record(letter('acme'))).rejects.toThrow('tenant acme has 2 dead letters, the most kept; delete or replay some');
    expect(await s.record(letter('bigcorp'))).toMatch(/^d\d{15}-[0-9a-f]{8}$/);
    const [first] = await s.list('acme');
    expect(first!.detail).toHaveLength(2000);
    expect(first!.detail.startsWith('failed at nats://u:[redacted]@h xxx')).toBe(true);
  });
});
