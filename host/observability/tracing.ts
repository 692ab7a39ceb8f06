/**
 * Traces of turns and node calls, off by default. When off, the host holds NO_TRACING: no
 * OpenTelemetry module is loaded and a turn pays one property read (`enabled`). When on, the SDK
 * (host/observability/otel-tracing.ts) is imported once per host and exports OTLP/HTTP.
 */

/** Where and as what spans are exported. */
export interface TracingConfig {
  /** The OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces. */
  readonly endpoint: string;
  /** service.name (default greentic-host). */
  readonly serviceName?: string;
  /** service.instance.id (default: host name and pid), so two instances' spans tell apart. */
  readonly instanceId?: string;
  /** Headers for the collector (OTEL_EXPORTER_OTLP_HEADERS), e.g. an API key. */
  readonly headers?: Readonly<Record<string, string>>;
  /** How often batched spans are sent (ms, default 1000). */
  readonly exportDelayMs?: number;
}

/** What a turn span says: ids only, never message text or secret values. */
export interface TurnAttributes {
  readonly tenant: string;
  readonly env: string;
  readonly team: string;
  readonly channel: string;
}

/** One node call of a turn, as the worker measured it. */
export interface NodeStep {
  readonly node: string;
  readonly component: string;
  readonly ms: number;
}

/** A turn in progress. */
export interface TurnSpan {
  /** Its W3C traceparent, for the headers of what the turn publishes. */
  readonly traceparent: string;
  /** The session and flow, once known. */
  describe(session: string, flow: string): void;
  /** A child span per node call (laid end to end, ending now), the last one failed with `errorCode` if given. */
  nodes(steps: readonly NodeStep[], errorCode?: string): void;
  /** End the turn: ok, or failed with a code; only the first call counts. */
  end(errorCode?: string): void;
}

/** A host's tracing: on (the SDK) or off (NO_TRACING). */
export interface Tracing {
  readonly enabled: boolean;
  /** Start a turn span, continuing the trace of `traceparent` (a W3C header value) when it is a valid one. */
  startTurn(attrs: TurnAttributes, traceparent: string | undefined): TurnSpan | undefined;
  /** Start a span of its own (a publisher's: the API, a test), returning its traceparent and how to end it. */
  startSpan(name: string, attrs: Readonly<Record<string, string>>): { readonly traceparent: string; end(): void } | undefined;
  /** Send what is batched now. */
  flush(): Promise<void>;
  /** Send what is batched and stop. */
  close(): Promise<void>;
}

/** Tracing off: nothing is loaded, nothing is recorded. */
export const NO_TRACING: Tracing = Object.freeze({
  enabled: false,
  startTurn: () => undefined,
  startSpan: () => undefined,
  flush: async () => {},
  close: async () => {},
});

/** A tracing setting that cannot be used (a malformed endpoint or header list): stops the start with one line. */
export class TracingConfigError extends Error {
  override readonly name = 'TracingConfigError';
}

/**
 * The tracing config from the standard OpenTelemetry variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 * (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_SERVICE_NAME; undefined (tracing off) when no endpoint is set or OTEL_SDK_DISABLED is true.
 */
export function tracingConfigFromEnv(env: NodeJS.ProcessEnv = process.env): TracingConfig | undefined {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return undefined;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
  if (traces === undefined && base === undefined) return undefined;
  const endpoint = traces ?? `${base!.replace(/\/+$/, '')}/v1/traces`;
  const name = traces !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  return {
    endpoint: checkEndpoint(endpoint, name),
    ...(env.OTEL_SERVICE_NAME ? { serviceName: env.OTEL_SERVICE_NAME } : {}),
    ...(env.OTEL_EXPORTER_OTLP_HEADERS ? { headers: parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS) } : {}),
  };
}

/** An http(s) URL, or a TracingConfigError naming `where`. */
export function checkEndpoint(url: string, where: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TracingConfigError(`${where}: ${JSON.stringify(url.slice(0, 200))} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TracingConfigError(`${where}: ${u.protocol} is not http: or https: (OTLP/HTTP)`);
  return url;
}

/** `k1=v1,k2=v2` (values percent-encoded), as OTEL_EXPORTER_OTLP_HEADERS has them. */
function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    const key = part.slice(0, i).trim();
    if (i <= 0 || !/^[A-Za-z0-9-]{1,64}$/.test(key)) throw new TracingConfigError('OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs separated by commas');
    out[key] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return { ...out };
}

/** The host's tracing: NO_TRACING without a config; with one, the SDK, imported only now. */
export async function startTracing(config: TracingConfig | undefined): Promise<Tracing> {
  if (!config) return NO_TRACING;
  const { OtelTracing } = await import('./otel-tracing.js');
  return new OtelTracing(config);
}
