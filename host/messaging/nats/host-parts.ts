// What a host (or a CLI command) given NATS adds to one on the embedded bus and data directory,
// loaded only then (host.ts and the commands import this on demand): the NATS client, JetStream
// and KV libraries are about 100 ms of a start that the embedded case does not need.
export { NatsLinks } from './links.js';
export { NatsBus } from './nats-bus.js';
export { NatsSecretStore } from '../../stores/nats-secret-store.js';
export { NatsSessionStore } from '../../stores/nats-session-store.js';
export { NatsAuditStore } from '../../audit/nats-audit-store.js';
export { NatsTenantWipe } from '../../data/nats-wipe.js';
export { NatsDeadLetterStore } from '../../stores/nats-dead-letters.js';
