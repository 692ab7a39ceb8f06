import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { OtelTracing } from '../../dist/observability/otel-tracing.js';
import { checkEndpoint } from '../../dist/observability/tracing.js';

// Nothing is exported here (no span is ended before close, the exporter's URL is never reached).
const tracing = new OtelTracing({ endpoint: 'http://127.0.0.1:9/v1/traces' });
afterAll(() => tracing.close());
const ATTRS = { tenant: 'acme', env: 'prod', team: 'support', channel: 'slack' };
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

describe('the traceparent a message carries', () => {
  it('is continued when it is a valid W3C one', () => {
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const turn = tracing.startTurn(ATTRS, parent);
    expect(TRACEPARENT.exec(turn.traceparent)![1]).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(TRACEPARENT.exec(turn.traceparent)![2]).not.toBe('00f067aa0ba902b7');
  });

  it('is never obeyed otherwise: any generated header value starts a fresh, valid trace, and nothing throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 120 }),
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.constantFrom('00-00000000000000000000000000000000-00f067aa0ba902b7-01', `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01${' '.repeat(40)}x`),
        ),
        (header) => {
          const turn = tracing.startTurn(ATTRS, header);
          const m = TRACEPARENT.exec(turn.traceparent);
          expect(m).not.toBeNull();
          if (!/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(header.trim()) || header.includes('0'.repeat(32))) expect(header).not.toContain(m![1]!);
        },
      ),
    );
  });

  it('an endpoint must be an http(s) URL', () => {
    expect(() => checkEndpoint('not a url', 'OTEL_EXPORTER_OTLP_ENDPOINT')).toThrow('OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" is not a URL');
    expect(checkEndpoint('https://otel.example:4318/v1/traces', 'x')).toBe('https://otel.example:4318/v1/traces');
  });
});
