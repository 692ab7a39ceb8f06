import { describe, expect, it } from 'vitest';
import { lookupOrder, namespacePrefix, sessionKey, sessionPathSegments, stateKey, stateKeyKv } from '../../dist/stores/keys.js';
import { egressSubject, ingressPattern, ingressSubject, parseChannelSubject, subjectMatches } from '../../dist/messaging/subjects.js';
import { CRAFTED_IDS } from '../support/crafted-ids.js';

const acme = { tenant: 'acme', env: 'prod', team: 'support' };

describe('state keys and session paths', () => {
  it('builds state:{tenant}:{env}:{team|default}:{session}', () => {
    expect(stateKey(sessionKey(acme, 's1'))).toBe('state:acme:prod:support:s1');
    expect(stateKey(sessionKey({ tenant: 'acme', env: 'prod' }, 's1'))).toBe('state:acme:prod:default:s1');
  });

  it('maps state keys to NATS KV tokens without ":"', () => {
    expect(stateKeyKv(sessionKey(acme, 's1'))).toBe('state.acme.prod.support.s1');
  });

  it('puts sessions at sessions/{tenant}/{env}/{team}/{session}.cbor', () => {
    expect(sessionPathSegments(sessionKey(acme, 's1'))).toEqual(['sessions', 'acme', 'prod', 'support', 's1.cbor']);
  });

  it.each(CRAFTED_IDS)('refuses %j in any part of a session key', (bad) => {
    expect(() => sessionKey({ ...acme, tenant: bad }, 's1')).toThrowError(/invalid tenant id/);
    expect(() => sessionKey({ ...acme, env: bad }, 's1')).toThrowError(/invalid env id/);
    expect(() => sessionKey({ ...acme, team: bad }, 's1')).toThrowError(/invalid team id/);
    expect(() => sessionKey(acme, bad)).toThrowError(/invalid session id/);
  });

  it('names secret namespaces global/, {tenant}/ and {tenant}/teams/{team}/', () => {
    expect(namespacePrefix({ kind: 'global' })).toBe('global/');
    expect(namespacePrefix({ kind: 'tenant', tenant: 'acme' })).toBe('acme/');
    expect(namespacePrefix({ kind: 'team', tenant: 'acme', team: 'support' })).toBe('acme/teams/support/');
    expect(() => namespacePrefix({ kind: 'tenant', tenant: '../bigcorp' })).toThrowError(/invalid tenant id/);
    expect(() => namespacePrefix({ kind: 'tenant', tenant: 'global' })).toThrowError(/reserved/);
  });

  it('looks secrets up team, then tenant, then global only when allowed', () => {
    expect(lookupOrder(acme, false).map(namespacePrefix)).toEqual(['acme/teams/support/', 'acme/']);
    expect(lookupOrder(acme, true).map(namespacePrefix)).toEqual(['acme/teams/support/', 'acme/', 'global/']);
    expect(lookupOrder({ tenant: 'acme', env: 'prod' }, false).map(namespacePrefix)).toEqual(['acme/']);
  });
});

describe('messaging subjects', () => {
  const a = { tenant: 'acme', env: 'prod', team: 'support', channel: 'slack' };

  it('builds greentic.messaging.{ingress|egress}.{env}.{tenant}.{team}.{channel}', () => {
    expect(ingressSubject(a)).toBe('greentic.messaging.ingress.prod.acme.support.slack');
    expect(egressSubject(a)).toBe('greentic.messaging.egress.prod.acme.support.slack');
  });

  it('parses a subject back, checking every token', () => {
    expect(parseChannelSubject('greentic.messaging.ingress.prod.acme.support.slack')).toEqual({ direction: 'ingress', address: a });
    expect(() => parseChannelSubject('greentic.messaging.ingress.prod.ACME.support.slack')).toThrowError(/invalid tenant id "ACME"/);
    expect(() => parseChannelSubject('greentic.messaging.ingress.prod.acme.support')).toThrowError(/not a channel subject/);
    expect(() => parseChannelSubject('greentic.messaging.ingress.prod.acme.support.slack.extra')).toThrowError(/not a channel subject/);
    expect(() => parseChannelSubject('greentic.messaging.sideways.prod.acme.support.slack')).toThrowError(/not a channel subject/);
    expect(() => parseChannelSubject('greentic.messaging.ingress.prod.*.support.slack')).toThrowError(/invalid tenant id "\*"/);
  });

  it.each(CRAFTED_IDS)('never lets %j become a subject token', (bad) => {
    for (const field of ['tenant', 'env', 'team', 'channel'] as const) {
      expect(() => ingressSubject({ ...a, [field]: bad })).toThrowError(new RegExp(`invalid ${field} id`));
    }
  });

  it('matches NATS wildcards', () => {
    expect(subjectMatches(ingressPattern('acme'), 'greentic.messaging.ingress.prod.acme.support.slack')).toBe(true);
    expect(subjectMatches(ingressPattern('acme'), 'greentic.messaging.ingress.prod.bigcorp.helpdesk.webchat')).toBe(false);
    expect(subjectMatches(ingressPattern('*'), 'greentic.messaging.ingress.prod.bigcorp.helpdesk.webchat')).toBe(true);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(() => ingressPattern('acme.>')).toThrowError(/invalid tenant id/);
  });
});
