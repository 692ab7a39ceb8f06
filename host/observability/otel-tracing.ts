import { hostname } from 'node:os';
import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { NodeStep, Tracing, TracingConfig, TurnAttributes, TurnSpan } from './tracing.js';

/** The longest traceparent accepted from a message header (a valid one is 55 characters). */
const MAX_TRACEPARENT = 64;

/**
 * Tracing with the OpenTelemetry SDK, one provider per host: nothing is registered globally (no
 * global tracer provider, propagator or context manager), so two hosts in one process keep their
 * own exporters; contexts are passed explicitly. Spans carry ids (tenant, env, team, channel,
 * session, flow, node, component), never message text or secret values.
 */
export class OtelTracing implements Tracing {
  readonly enabled = true;
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #propagator = new W3CTraceContextPropagator();

  constructor(config: TracingConfig) {
    const exporter = new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers } });
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': config.serviceName ?? 'greentic-host',
        'service.instance.id': config.instanceId ?? `${hostname()}-${process.pid}`,
      }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.exportDelayMs ?? 1000 })],
    });
    this.#tracer = this.#provider.getTracer('greentic-host');
  }

  #parent(traceparent: string | undefined): Context {
    // A header is what a publisher (an attacker, perhaps) sent: bounded here, parsed strictly by the W3C propagator.
    if (typeof traceparent !== 'string' || traceparent.length > MAX_TRACEPARENT) return ROOT_CONTEXT;
    return this.#propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
  }

  #traceparentOf(span: Span): string {
    const carrier: Record<string, string> = {};
    this.#propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
    return carrier.traceparent ?? '';
  }

  startTurn(attrs: TurnAttributes, traceparent: string | undefined): TurnSpan {
    const span = this.#tracer.startSpan(
      'greentic.turn',
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'greentic.tenant': attrs.tenant, 'greentic.env': attrs.env, 'greentic.team': attrs.team, 'greentic.channel': attrs.channel },
      },
      this.#parent(traceparent),
    );
    const ctx = trace.setSpan(ROOT_CONTEXT, span);
    const tracer = this.#tracer;
    const base = { 'greentic.tenant': attrs.tenant, 'greentic.env': attrs.env, 'greentic.team': attrs.team };
    let session = '';
    let flow = '';
    let ended = false;
    return {
      traceparent: this.#traceparentOf(span),
      describe(s: string, f: string) {
        session = s;
        flow = f;
        span.setAttributes({ 'greentic.session': s, 'greentic.flow': f });
      },
      nodes(steps: readonly NodeStep[], errorCode?: string) {
        // The worker measured each call; the spans are laid end to end, ending when its result came back.
        let at = Date.now() - steps.reduce((sum, s) => sum + (Number.isFinite(s.ms) ? s.ms : 0), 0);
        steps.forEach((s, i) => {
          const ms = Number.isFinite(s.ms) ? s.ms : 0;
          const child = tracer.startSpan(
            `greentic.node ${s.node}`,
            {
              kind: SpanKind.INTERNAL,
              startTime: at,
              attributes: { ...base, 'greentic.session': session, 'greentic.flow': flow, 'greentic.node': s.node, 'greentic.component': s.component },
            },
            ctx,
          );
          if (errorCode !== undefined && i === steps.length - 1) child.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
          at += ms;
          child.end(at);
        });
      },
      end(errorCode?: string) {
        if (ended) return;
        ended = true;
        if (errorCode !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
        span.end();
      },
    };
  }

  startSpan(name: string, attrs: Readonly<Record<string, string>>): { traceparent: string; end(): void } {
    const span = this.#tracer.startSpan(name, { kind: SpanKind.PRODUCER, attributes: { ...attrs } }, ROOT_CONTEXT);
    return { traceparent: this.#traceparentOf(span), end: () => span.end() };
  }

  async flush(): Promise<void> {
    await this.#provider.forceFlush();
  }

  async close(): Promise<void> {
    await this.#provider.shutdown();
  }
}
