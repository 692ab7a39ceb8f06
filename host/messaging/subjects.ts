import { checkId, InvalidIdError } from '../tenancy/ids.js';

/** Direction of a messaging subject. */
export type Direction = 'ingress' | 'egress';

/** The parts of greentic.messaging.{direction}.{env}.{tenant}.{team}.{channel}. */
export interface ChannelAddress {
  readonly env: string;
  readonly tenant: string;
  readonly team: string;
  readonly channel: string;
}

const PREFIX = 'greentic.messaging';

/** Build a subject from checked ids: an id can never add a token, a wildcard or an empty token. */
export function channelSubject(direction: Direction, a: ChannelAddress): string {
  const where = `${direction} subject`;
  return [
    PREFIX,
    direction,
    checkId('env', a.env, where),
    checkId('tenant', a.tenant, where),
    checkId('team', a.team, where),
    checkId('channel', a.channel, where),
  ].join('.');
}

/** ingress subject of a channel. */
export const ingressSubject = (a: ChannelAddress): string => channelSubject('ingress', a);
/** egress subject of a channel. */
export const egressSubject = (a: ChannelAddress): string => channelSubject('egress', a);

/** The subject is not a well-formed channel subject. */
export class SubjectError extends Error {
  override readonly name = 'SubjectError';
}

/** Parse a concrete (wildcard-free) channel subject; every token is checked. */
export function parseChannelSubject(subject: string): { direction: Direction; address: ChannelAddress } {
  const tokens = subject.split('.');
  if (tokens.length !== 7 || `${tokens[0]}.${tokens[1]}` !== PREFIX || (tokens[2] !== 'ingress' && tokens[2] !== 'egress')) {
    throw new SubjectError(
      `not a channel subject: ${JSON.stringify(subject.slice(0, 200))} (expected ${PREFIX}.{ingress|egress}.{env}.{tenant}.{team}.{channel})`,
    );
  }
  try {
    return {
      direction: tokens[2],
      address: {
        env: checkId('env', tokens[3], 'subject'),
        tenant: checkId('tenant', tokens[4], 'subject'),
        team: checkId('team', tokens[5], 'subject'),
        channel: checkId('channel', tokens[6], 'subject'),
      },
    };
  } catch (e) {
    if (e instanceof InvalidIdError) throw new SubjectError(e.message);
    throw e;
  }
}

/**
 * Subscription pattern for the ingress of one tenant (all its envs, teams, channels) or of
 * every tenant ("*"). Only this module writes wildcards, and only in token positions.
 */
export function ingressPattern(tenant: string | '*', env: string | '*' = '*'): string {
  const t = tenant === '*' ? '*' : checkId('tenant', tenant, 'ingress pattern');
  const e = env === '*' ? '*' : checkId('env', env, 'ingress pattern');
  return `${PREFIX}.ingress.${e}.${t}.*.*`;
}

/** True when `subject` matches NATS-style `pattern` (`*` one token, `>` the rest). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
