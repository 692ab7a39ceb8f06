import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { redact } from '../../dist/data/redaction.js';
import { DEFAULT_SESSION_POLICY, expiryOf, resolveSessionPolicy } from '../../dist/data/session-policy.js';
import { FileSessionStore } from '../../dist/stores/file-session-store.js';
import { sessionKey } from '../../dist/stores/keys.js';
import { SessionExpiry } from '../../dist/stores/session-expiry.js';
import type { SessionRecord } from '../../dist/stores/session-store.js';
import { SessionsSettingsSchema } from '../../dist/tenancy/config/sessions-schema.js';
import { tempDir } from '../support/bundle.js';
import { sessionRecord } from '../support/session-record.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function record(session: string, at: number, user = 'u'): SessionRecord {
  return sessionRecord({ session, user, created_at: at, updated_at: at, turns: 1 });
}

describe('settings.sessions', () => {
  it('takes seconds or a duration with a unit, and refuses anything else naming the field', () => {
    expect(SessionsSettingsSchema.parse({ idle_ttl: '30m', max_age: 86400 })).toEqual({ idle_ttl: 1800, max_age: 86400 });
    expect(SessionsSettingsSchema.parse({ idle_ttl: '7d' }).idle_ttl).toBe(7 * 86400);
    const bad = SessionsSettingsSchema.safeParse({ idle_ttl: '30 minutes' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['idle_ttl', 'expected seconds (1 to 315360000), or a number followed by s, m, h or d ("30m")'],
    ]);
    expect(SessionsSettingsSchema.safeParse({ max_age: 0 }).success).toBe(false);
    expect(SessionsSettingsSchema.safeParse({ max_age: 1.5 }).success).toBe(false);
    expect(SessionsSettingsSchema.safeParse({ redact: ['ssn'] }).success).toBe(false);
    expect(SessionsSettingsSchema.safeParse({ transcript: 'some' }).success).toBe(false);
    expect(SessionsSettingsSchema.safeParse({ ttl: 5 }).success).toBe(false);
  });

  it('an environment overrides its tenant key by key', () => {
    const tenant = resolveSessionPolicy(DEFAULT_SESSION_POLICY, { idle_ttl: 60, redact: ['email'] });
    const env = resolveSessionPolicy(tenant, { max_age: 120, transcript: 'none' });
    expect(env).toEqual({ idleTtlMs: 60_000, maxAgeMs: 120_000, transcript: 'none', transcriptLines: 50, redact: ['email'] });
    expect(expiryOf(env, { created_at: 0, updated_at: 0 }, 59_999)).toBeNull();
    expect(expiryOf(env, { created_at: 0, updated_at: 0 }, 60_000)).toBe('idle');
    expect(expiryOf(env, { created_at: 0, updated_at: 100_000 }, 120_000)).toBe('max-age');
    expect(expiryOf(DEFAULT_SESSION_POLICY, { created_at: 0, updated_at: 0 }, Number.MAX_SAFE_INTEGER)).toBeNull();
  });
});

describe('redaction', () => {
  it('replaces every generated email address, wherever it sits in the text', () => {
    const local = fc.stringMatching(/^[a-z0-9._%+-]{1,20}$/);
    const domain = fc.array(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 2, maxLength: 4 }).map((p) => p.join('.'));
    const around = fc.stringMatching(/^[ a-zA-Z,!?]{0,30}$/);
    fc.assert(
      fc.property(around, local, domain, around, (a, l, d, b) => {
        const out = redact(`${a} ${l}@${d} ${b}`, ['email']);
        expect(out).not.toContain(`@${d}`);
        expect(out).toContain('[email]');
      }),
    );
  });

  it('replaces card numbers that pass the Luhn check (grouped or not), and no other digit run', () => {
    expect(redact('pay with 4111 1111 1111 1111 now', ['card_number'])).toBe('pay with [card_number] now');
    expect(redact('card 5500-0000-0000-0004.', ['card_number'])).toBe('card [card_number].');
    expect(redact('order 4111111111111112 shipped', ['card_number'])).toBe('order 4111111111111112 shipped');
    expect(redact('call 0123456789', ['card_number'])).toBe('call 0123456789');
    expect(redact('a@b.co 4111111111111111', [])).toBe('a@b.co 4111111111111111');
  });

  it('costs linear time on long hostile input (bounded quantifiers)', () => {
    // Many near-misses of each pattern in the longest line a transcript keeps.
    for (const text of ['a'.repeat(2000), `${'a.'.repeat(1000)}`, '1 '.repeat(1000), `${'x@'.repeat(1000)}`]) {
      const steps = redact(text, ['email', 'card_number']);
      expect(typeof steps).toBe('string');
    }
  });
});

describe('the expiry sweep', () => {
  async function store() {
    const d = tempDir('greentic-expiry-');
    const s = await FileSessionStore.open(d.dir);
    cleanups.push(d.cleanup, () => s.close());
    return s;
  }
  const policy = { ...DEFAULT_SESSION_POLICY, idleTtlMs: 60_000 };
  const scope = { tenant: 'acme', env: 'prod', teams: ['support'], policy };

  it('examines at most perTick sessions per tick, and removes only the expired ones', async () => {
    const s = await store();
    const old = Date.now() - 120_000;
    for (let i = 0; i < 7; i++) await s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, `old${i}`), record(`old${i}`, old), 0);
    await s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 'fresh'), record('fresh', Date.now()), 0);
    const removed: string[] = [];
    const sweep = new SessionExpiry(s, { scopes: () => [scope], perTick: 3, onExpired: (k, why) => removed.push(`${k.session}:${why}`) });
    cleanups.push(() => sweep.stop());
    // Ids are walked in order: "fresh" is examined (and kept) first, so the first tick's three leave two removed.
    await sweep.tickNow();
    expect([...removed].sort()).toEqual(['old0:idle', 'old1:idle']);
    await sweep.tickNow();
    await sweep.tickNow();
    expect(sweep.removed).toBe(7);
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' })).toEqual(['fresh']);
  });

  it('comes back sooner while it is behind, and to its interval once a pass is done', async () => {
    const s = await store();
    const old = Date.now() - 120_000;
    for (let i = 0; i < 10; i++) await s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, `old${i}`), record(`old${i}`, old), 0);
    await s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 'fresh'), record('fresh', Date.now()), 0);
    // An hour between ticks: only the sweep's own catching up can remove the rest within the test.
    const sweep = new SessionExpiry(s, { scopes: () => [scope], perTick: 3, intervalMs: 3_600_000 });
    cleanups.push(() => sweep.stop());
    await sweep.tickNow();
    // "fresh" is examined first (ids in order), so the first tick removes two.
    expect(sweep.removed).toBe(2);
    for (let i = 0; i < 200 && sweep.removed < 10; i++) await new Promise((r) => setTimeout(r, 25));
    expect(sweep.removed).toBe(10);
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' })).toEqual(['fresh']);
  });

  it('does not remove a session a turn touched after the sweep read it', async () => {
    const s = await store();
    const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 'raced');
    const rev = await s.put(key, record('raced', Date.now() - 120_000), 0);
    // The store's conditional delete is what the sweep relies on.
    const next = await s.put(key, record('raced', Date.now()), rev);
    expect(await s.delete(key, rev)).toBe(false);
    expect((await s.get(key))!.revision).toBe(next);
    expect(await s.delete(key, next)).toBe(true);
  });

  it('skips tenant environments without expiry, and a policy change takes effect at the next pass', async () => {
    const s = await store();
    await s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 'old'), record('old', Date.now() - 120_000), 0);
    let current = { ...scope, policy: DEFAULT_SESSION_POLICY };
    const sweep = new SessionExpiry(s, { scopes: () => [current] });
    cleanups.push(() => sweep.stop());
    await sweep.tickNow();
    expect(sweep.removed).toBe(0);
    current = scope;
    await sweep.tickNow();
    expect(sweep.removed).toBe(1);
  });
});
