import { describe, expect, it } from 'vitest';
import { checkId, ID_PATTERN, InvalidIdError, isValidId, quoteForMessage } from '../../dist/tenancy/ids.js';
import { CRAFTED_IDS } from '../support/crafted-ids.js';

describe('the id grammar', () => {
  it('accepts lower-case letters, digits, _ and - up to 63 characters', () => {
    for (const id of ['acme', 'bigcorp', 'a', '0', 'team_1', 'slack-eu', 'a'.repeat(63), 's' + 'f'.repeat(40)]) {
      expect(isValidId(id), id).toBe(true);
      expect(checkId('tenant', id, 'test')).toBe(id);
    }
  });

  it.each(CRAFTED_IDS)('refuses %j and says why', (value, reason) => {
    expect(isValidId(value)).toBe(false);
    expect(() => checkId('tenant', value, '--tenant')).toThrowError(InvalidIdError);
    try {
      checkId('tenant', value, '--tenant');
    } catch (e) {
      const err = e as InvalidIdError;
      expect(err.message).toContain('invalid tenant id');
      expect(err.message).toContain('in --tenant');
      expect(err.message).toContain(reason);
      expect(err.kind).toBe('tenant');
      expect(err.where).toBe('--tenant');
    }
  });

  it('refuses non-strings', () => {
    for (const v of [undefined, null, 42, {}, ['acme']]) {
      expect(() => checkId('team', v, 'body')).toThrowError(/invalid team id .* in body: expected a string/);
    }
  });

  it('reserves "global" as a tenant (the shared secret namespace) and "default" as a team (no-team state keys)', () => {
    expect(() => checkId('tenant', 'global', 'config')).toThrowError('invalid tenant id "global" in config: "global" is reserved');
    expect(() => checkId('team', 'default', 'config')).toThrowError('invalid team id "default" in config: "default" is reserved');
    expect(checkId('team', 'global', 'config')).toBe('global');
    expect(checkId('tenant', 'default', 'config')).toBe('default');
  });

  it('is one pattern that keeps every id one path segment, one subject token and one key field', () => {
    expect(ID_PATTERN.source).toBe('^[a-z0-9][a-z0-9_-]{0,62}$');
    for (const ch of ['.', ':', '/', '\\', '*', '>', ' ', '\t']) expect(isValidId(`a${ch}b`), ch).toBe(false);
  });

  it('quotes untrusted values for messages, bounded and escaped', () => {
    expect(quoteForMessage('a\nb')).toBe('"a\\nb"');
    expect(quoteForMessage('x'.repeat(200)).length).toBeLessThan(90);
    expect(quoteForMessage(undefined)).toBe('(missing)');
  });
});
