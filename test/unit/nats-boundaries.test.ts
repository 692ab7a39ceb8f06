import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { redactCredentials } from '../../dist/observability/redact.js';
import { checkHeaderValue, answerId, MAX_HEADER_VALUE } from '../../dist/messaging/nats/headers.js';
import { credentialsOf } from '../../dist/messaging/nats/connection.js';
import { ingressStream, sessionsBucket, tenantStreams } from '../../dist/messaging/nats/resources.js';
import { retryDelayMs, ingressConsumerConfig } from '../../dist/messaging/nats/ingress-consumer.js';
import { createLogger } from '../../dist/observability/logger.js';

describe('redactCredentials', () => {
  it.each([
    ['cannot connect to NATS at nats://host:hunter2@10.0.0.1:4222: refused', 'cannot connect to NATS at nats://host:[redacted]@10.0.0.1:4222: refused'],
    ['tls://s3cr3t-token@nats.example:4222', 'tls://[redacted]@nats.example:4222'],
    ['seed SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4 leaked', 'seed [redacted] leaked'],
    ['jwt eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJYIn0.c2lnbmF0dXJl end', 'jwt [redacted] end'],
    ['password=abc token: "xyz" pass=q', 'password=[redacted] token: "[redacted]" pass=[redacted]'],
    ['no credentials here: acme/prod/support', 'no credentials here: acme/prod/support'],
  ])('%s', (input, output) => {
    expect(redactCredentials(input)).toBe(output);
  });

  it('never lets a generated password through, wherever the URL sits in the text', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9!$%^&*()_+=~-]{6,40}$/), fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (pw, before, after) => {
        const out = redactCredentials(`${before} nats://user:${pw}@127.0.0.1:4222 ${after}`);
        expect(out).toContain('nats://user:[redacted]@127.0.0.1:4222');
        expect(out.replace(before, '').replace(after, '')).not.toContain(pw);
      }),
    );
  });

  it('is applied to every log line, in messages and fields at any depth', () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => (lines.push(l), true) } as unknown as NodeJS.WritableStream });
    logger.child({ server: 'nats://a:childpw@h' }).error({ err: 'x nats://a:fieldpw@h', nested: { deeper: ['nats://a:deeppw@h'] } }, 'failed nats://a:msgpw@h');
    expect(lines).toHaveLength(1);
    for (const pw of ['childpw', 'fieldpw', 'deeppw', 'msgpw']) expect(lines[0]).not.toContain(pw);
    expect(lines[0]).toContain('nats://a:[redacted]@h');
  });
});

describe('credentials in a NATS URL', () => {
  it('are taken out of the server address (the client library ignores them)', () => {
    expect(credentialsOf('nats://u:p%40ss@h:4222', {})).toEqual({ server: 'nats://h:4222', creds: { user: 'u', password: 'p@ss' } });
    expect(credentialsOf('nats://tok@h:4222', {})).toEqual({ server: 'nats://h:4222', creds: { token: 'tok' } });
    expect(credentialsOf('nats://h:4222', { user: 'x' })).toEqual({ server: 'nats://h:4222', creds: { user: 'x' } });
    expect(credentialsOf('nats://u:p@h', { user: 'given', password: 'g' })).toEqual({ server: 'nats://h', creds: { user: 'given', password: 'g' } });
  });
});

describe('header values before publish', () => {
  it('refuses control characters, CR/LF, empty and over-long values with a message naming the header', () => {
    expect(() => checkHeaderValue('Nats-Msg-Id', 'm1\r\nNats-Rollup: all')).toThrow(
      'header Nats-Msg-Id value "m1\\r\\nNats-Rollup: all" has characters NATS headers cannot carry',
    );
    expect(() => checkHeaderValue('Nats-Msg-Id', '')).toThrow('header Nats-Msg-Id would be empty');
    expect(() => checkHeaderValue('Nats-Msg-Id', 'x'.repeat(MAX_HEADER_VALUE + 1))).toThrow(
      `header Nats-Msg-Id would be ${MAX_HEADER_VALUE + 1} characters long; the limit is ${MAX_HEADER_VALUE}`,
    );
    expect(checkHeaderValue('Nats-Msg-Id', 'm1:end')).toBe('m1:end');
  });

  it('accepts exactly printable ASCII, for any generated string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }), (v) => {
        const ok = /^[\x21-\x7e][\x20-\x7e]*$/.test(v);
        if (ok) expect(checkHeaderValue('h', v)).toBe(v);
        else expect(() => checkHeaderValue('h', v)).toThrow(/header h/);
      }),
    );
  });

  it('answers under the sender’s id only when it is a valid id, else under a stable stand-in', () => {
    const data = new TextEncoder().encode('{"id":"a\\nb"}');
    expect(answerId('m1', data)).toBe('m1');
    expect(answerId('a\nb', data)).toMatch(/^x[0-9a-f]{40}$/);
    expect(answerId('a\nb', data)).toBe(answerId(42, data));
    fc.assert(
      fc.property(fc.anything(), (claimed) => {
        expect(answerId(claimed, data)).toMatch(/^[a-z0-9][a-z0-9_-]{0,62}$/);
      }),
    );
  });
});

describe('per-tenant resources', () => {
  it('are named from checked ids only', () => {
    expect(ingressStream('acme')).toBe('GREENTIC_INGRESS_acme');
    expect(sessionsBucket('my-co')).toBe('greentic_sessions_my-co');
    for (const bad of ['*', '>', 'a.b', 'global', 'A', '', 'constructor.x'])
      expect(() => tenantStreams(bad)).toThrow(/invalid tenant id .* in NATS resource name/);
  });

  it('capture only their tenant’s subjects and refuse rollups', () => {
    for (const s of tenantStreams('acme')) {
      expect(s.allow_rollup_hdrs).toBe(false);
      for (const subj of s.subjects ?? []) expect(subj.includes('.acme.') || subj.includes('_acme.') || subj.endsWith('.acme')).toBe(true);
    }
  });

  it('give up a message after max_deliver with growing delays', () => {
    expect([1, 2, 3, 4, 7, 20].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 60000, 60000]);
    const c = ingressConsumerConfig('acme', { ackWaitMs: 30_000, maxDeliver: 5, maxInFlight: 1 });
    expect(c.max_deliver).toBe(6);
    expect(c.backoff?.map((n) => n / 1e6)).toEqual([30_000, 60_000, 120_000, 240_000, 480_000]);
  });
});
