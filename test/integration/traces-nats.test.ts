import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converse } from '../../dist/messaging/conversation.js';
import { ACME_SLACK, startHost, type TestHost } from '../support/host.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { OtlpCollector } from '../support/otlp-collector.js';

process.env.GREENTIC_MASTER_KEY = 'cd'.repeat(32);
let nats: NatsServer;
let collector: OtlpCollector;
let a: TestHost;
let b: TestHost;

// A hybrid deployment: instance A serves bigcorp, instance B serves acme; both export to one collector.
beforeAll(async () => {
  nats = await startNats();
  collector = await OtlpCollector.start();
  const tracing = (instanceId: string) => ({ endpoint: collector.url, instanceId, exportDelayMs: 50 });
  a = await startHost({ nats: { url: nats.url }, tenants: ['bigcorp'], workers: 1, spare: false, tracing: tracing('instance-a') });
  b = await startHost({ nats: { url: nats.url }, tenants: ['acme'], workers: 1, spare: false, tracing: tracing('instance-b') });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await collector?.close();
  await nats?.dispose();
});

describe('a trace across NATS', () => {
  it('goes on in the instance that handles a message another instance published, and into its replies', async () => {
    // Instance A publishes acme's message within a span of its own (as its API does for a tenant it serves).
    const span = a.host.tracing.startSpan('greentic.publish', { 'greentic.tenant': 'acme' })!;
    const answer = await converse(a.host.bus, ACME_SLACK, { user: 'u1', text: 'hello' }, 20_000, { traceparent: span.traceparent });
    span.end();
    expect(answer).toMatchObject({ ok: true, replies: ['Welcome to ACME Support! How can I help?'] });
    await collector.waitFor((s) => s.some((x) => x.name === 'greentic.publish') && s.some((x) => x.name === 'greentic.turn'));
    const published = collector.spans.find((s) => s.name === 'greentic.publish')!;
    const turn = collector.spans.find((s) => s.name === 'greentic.turn')!;
    expect(published.resource['service.instance.id']).toBe('instance-a');
    expect(turn.resource['service.instance.id']).toBe('instance-b');
    expect(turn.traceId).toBe(published.traceId);
    expect(turn.parentSpanId).toBe(published.spanId);
    expect(turn.attributes).toMatchObject({ 'greentic.tenant': 'acme', 'greentic.env': 'prod', 'greentic.team': 'support', 'greentic.channel': 'slack' });
    // The replies B published carry B's turn as their parent, for whoever delivers them.
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const m = await jsm.streams.getMessage('GREENTIC_EGRESS_acme', { seq: 1 });
      expect(m.header?.get('traceparent')).toBe(`00-${turn.traceId}-${turn.spanId}-01`);
    } finally {
      await nc.close();
    }
  });

  it('starts a new trace for a traceparent that is not one (what a publisher sends is not trusted)', async () => {
    const before = collector.spans.length;
    const forged = 'ff-zzzz-not-a-trace\r\ninjected: yes';
    const bad = await converse(a.host.bus, ACME_SLACK, { user: 'u2', text: 'hello' }, 20_000, {
      traceparent: '00-00000000000000000000000000000000-0000000000000000-01',
    });
    expect(bad.ok).toBe(true);
    await expect(converse(a.host.bus, ACME_SLACK, { user: 'u3', text: 'hello' }, 5_000, { traceparent: forged })).rejects.toThrow(
      'header traceparent value "ff-zzzz-not-a-trace\\r\\ninjected: yes" has characters NATS headers cannot carry',
    );
    await collector.waitFor((s) => s.slice(before).some((x) => x.name === 'greentic.turn'));
    const turn = collector.spans.slice(before).find((x) => x.name === 'greentic.turn')!;
    expect(turn.parentSpanId).toBeUndefined();
    expect(turn.traceId).not.toBe('00000000000000000000000000000000');
  });
});
