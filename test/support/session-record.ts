import type { SessionRecord } from '../../dist/stores/session-store.js';

/** A valid session record of acme/prod/support (session s1 of user u1 on slack), with `over` replacing any field. */
export function sessionRecord(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    v: 1,
    tenant: 'acme',
    env: 'prod',
    team: 'support',
    session: 's1',
    channel: 'slack',
    user: 'u1',
    cursor: null,
    state: {},
    created_at: 1,
    updated_at: 1,
    turns: 0,
    recent_messages: [],
    ...over,
  };
}
