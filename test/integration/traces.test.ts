import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { NO_TRACING, tracingConfigFromEnv } from '../../dist/observability/tracing.js';
import { ACME_SECRET, acmeClaims, call, sign } from '../support/api.js';
import { copyExamples, ROOT } from '../support/bundle.js';
import { installSecretProber } from '../support/secret-prober.js';
import { ACME_SLACK, replies, startHost, type TestHost } from '../support/host.js';
import { OtlpCollector } from '../support/otlp-collector.js';

// acme's support channel runs the prober (reads the secret api_key); its sales channel keeps the example's reply flow.
const SECRET_VALUE = 'sk-trace-SECRET-value-never-exported-77d1';
const TEXT_MARK = 'user-words-that-no-span-may-carry-4b9e';
const bundle = copyExamples();
let collector: OtlpCollector;
let t: TestHost;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  collector = await OtlpCollector.start();
  installSecretProber(bundle.dir, { id: 'bye', type: 'reply', config: { message: 'done' } });
  t = await startHost({ bundleDir: bundle.dir, tracing: { endpoint: collector.url, instanceId: 'instance-a', exportDelayMs: 50 } });
  expect(t.host.problems).toEqual([]);
  await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_key', SECRET_VALUE);
  await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_jwt_secret', ACME_SECRET);
  app = await createHttpServer(t.host);
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app?.close();
  await t?.close();
  await collector?.close();
  bundle.cleanup();
});

describe('OpenTelemetry traces', () => {
  it('export a span per turn and a child per node call, with the scope attributes and no message text or secret', async () => {
    const text = JSON.stringify({ calls: [{ fn: 'secrets.get', args: ['api_key'] }], next: 'proceed', mark: TEXT_MARK });
    const out = replies(await t.say(ACME_SLACK, 'u1', text));
    expect(JSON.parse(out[0]!)).toEqual([{ fn: 'secrets.get', ok: SECRET_VALUE }]);
    await collector.waitFor((s) => s.filter((x) => x.name.startsWith('greentic.')).length >= 3);
    const turn = collector.spans.find((s) => s.name === 'greentic.turn')!;
    expect(turn.parentSpanId).toBeUndefined();
    expect(turn.attributes).toEqual({
      'greentic.tenant': 'acme',
      'greentic.env': 'prod',
      'greentic.team': 'support',
      'greentic.channel': 'slack',
      'greentic.session': expect.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/),
      'greentic.flow': 'acme_support_flow',
    });
    expect(turn.resource).toMatchObject({ 'service.name': 'greentic-host', 'service.instance.id': 'instance-a' });
    const nodes = collector.spans.filter((s) => s.name.startsWith('greentic.node '));
    expect(nodes.map((n) => [n.name, n.attributes['greentic.node'], n.attributes['greentic.component']])).toEqual([
      ['greentic.node p', 'p', 'prober'],
      ['greentic.node bye', 'bye', 'reply'],
    ]);
    for (const n of nodes) {
      expect(n.traceId).toBe(turn.traceId);
      expect(n.parentSpanId).toBe(turn.spanId);
      expect(n.attributes).toMatchObject({
        'greentic.tenant': 'acme',
        'greentic.env': 'prod',
        'greentic.team': 'support',
        'greentic.session': turn.attributes['greentic.session'],
        'greentic.flow': 'acme_support_flow',
      });
      expect(n.startNs >= turn.startNs && n.endNs <= turn.endNs).toBe(true);
    }
    // Every byte the exporter sent: neither the message text, nor the secret, nor the replies.
    const sent = Buffer.concat(collector.raw).toString('utf8');
    for (const needle of [TEXT_MARK, SECRET_VALUE, 'secrets.get', 'done']) expect(sent).not.toContain(needle);
  });

  it('continue the trace of an API request into its turn', async () => {
    const token = await sign(acmeClaims());
    const before = collector.spans.length;
    const r = await call(base, 'POST', '/api/v1/messages', { token, body: { env: 'prod', channel: 'slack', user: 'u2', text: JSON.stringify({ calls: [] }) } });
    expect(r.status).toBe(200);
    await collector.waitFor(
      (s) => s.slice(before).some((x) => x.name === 'greentic.api POST /api/v1/messages') && s.slice(before).some((x) => x.name === 'greentic.turn'),
    );
    const fresh = collector.spans.slice(before);
    const api = fresh.find((s) => s.name === 'greentic.api POST /api/v1/messages')!;
    const turn = fresh.find((s) => s.name === 'greentic.turn')!;
    expect(turn.traceId).toBe(api.traceId);
    expect(turn.parentSpanId).toBe(api.spanId);
    expect(api.attributes).toEqual({ 'greentic.tenant': 'acme', 'greentic.env': 'prod', 'greentic.team': 'support', 'greentic.channel': 'slack' });
  });

  it('are off without an endpoint: no SDK module is loaded, the host holds the no-op tracer', async () => {
    expect(tracingConfigFromEnv({})).toBeUndefined();
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(
      tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/', OTEL_SERVICE_NAME: 'bot', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b' }),
    ).toEqual({
      endpoint: 'http://c:4318/v1/traces',
      serviceName: 'bot',
      headers: { 'api-key': 'a b' },
    });
    expect(() => tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://c:4317' })).toThrow(
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: grpc: is not http: or https: (OTLP/HTTP)',
    );
    // A fresh process: a host started without tracing has loaded no OpenTelemetry SDK or exporter module
    // (only @opentelemetry/api, which prom-client loads for its exemplars whenever it is installed).
    const script = `
      import { createRequire } from 'node:module';
      import { mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const { GreenticHost } = await import(${JSON.stringify(join(ROOT, 'dist/host.js'))});
      const { createLogger } = await import(${JSON.stringify(join(ROOT, 'dist/observability/logger.js'))});
      const host = await GreenticHost.start({ bundleDir: ${JSON.stringify(join(ROOT, 'examples'))}, dataDir: mkdtempSync(join(tmpdir(), 'greentic-notrace-')), workers: 1, spare: false, logger: createLogger({ level: 'fatal' }) });
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@opentelemetry') && !k.includes('@opentelemetry/api/'));
      console.log(JSON.stringify({ enabled: host.tracing.enabled, loaded }));
      await host.close();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, GREENTIC_MASTER_KEY: 'ab'.repeat(32) },
    }).toString();
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ enabled: false, loaded: [] });
    expect(NO_TRACING.startTurn({ tenant: 'acme', env: 'prod', team: 'support', channel: 'slack' }, undefined)).toBeUndefined();
  });
});
