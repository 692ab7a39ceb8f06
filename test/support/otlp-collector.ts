import { createServer, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';

/** One span as the OTLP/JSON export carries it, with its resource's attributes. */
export interface CollectedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly attributes: Record<string, unknown>;
  readonly resource: Record<string, unknown>;
  readonly status: { code?: number; message?: string } | undefined;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

/**
 * An in-process OpenTelemetry collector: an HTTP server that takes OTLP/HTTP JSON exports on
 * /v1/traces (gzip or not), keeps every request's raw bytes and decodes the spans.
 */
export class OtlpCollector {
  readonly spans: CollectedSpan[] = [];
  readonly raw: Buffer[] = [];
  #server: Server | undefined;
  url = '';

  static async start(): Promise<OtlpCollector> {
    const c = new OtlpCollector();
    c.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
          res.writeHead(415).end();
          return;
        }
        c.raw.push(body);
        c.#decode(JSON.parse(body.toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => c.#server!.listen(0, '127.0.0.1', r));
    const addr = c.#server.address() as { port: number };
    c.url = `http://127.0.0.1:${addr.port}/v1/traces`;
    return c;
  }

  #decode(doc: any): void {
    for (const rs of doc.resourceSpans ?? []) {
      const resource = attrs(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          this.spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            attributes: attrs(s.attributes),
            resource,
            status: s.status,
            startNs: BigInt(s.startTimeUnixNano),
            endNs: BigInt(s.endTimeUnixNano),
          });
    }
  }

  /** Wait (polling, bounded) until `pred` holds for the spans received. */
  async waitFor(pred: (spans: readonly CollectedSpan[]) => boolean, timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!pred(this.spans)) {
      if (Date.now() > until)
        throw new Error(`the collector did not receive the expected spans in ${timeoutMs} ms: ${JSON.stringify(this.spans.map((s) => s.name))}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.#server?.close(() => r()));
  }
}

function attrs(list: Array<{ key: string; value: Record<string, unknown> }> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list ?? []) out[a.key] = Object.values(a.value)[0];
  return out;
}
