import { connect } from 'node:net';

/** One HTTP response as it came off the socket. */
export interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
  /** The whole response, for messages. */
  readonly raw: string;
}

/**
 * Send `request` (bytes, exactly as given: no client fixes anything) to 127.0.0.1:`port` and
 * read the first response until the server closes or the response is complete. Rejects on
 * timeout: a request the server neither answers nor closes is a hang.
 */
export function rawRequest(port: number, request: Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      const parsed = parseResponse(Buffer.concat(chunks));
      if (!err && !parsed) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (parsed) resolve(parsed);
      else reject(err);
    };
    const timer = setTimeout(
      () => finish(new Error(`no complete response within ${timeoutMs} ms to ${JSON.stringify(request.subarray(0, 200).toString('latin1'))}`)),
      timeoutMs,
    );
    socket.on('data', (d) => {
      chunks.push(d);
      finish();
    });
    socket.on('end', () => finish(new Error(`connection closed without a response to ${JSON.stringify(request.subarray(0, 200).toString('latin1'))}`)));
    socket.on('error', (e) => finish(e));
    socket.write(request);
  });
}

/** The first complete response in `buf`, or null while it is incomplete. */
function parseResponse(buf: Buffer): RawResponse | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]!);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(head[0])}`);
  const headers = new Map<string, string>();
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  let rest = buf.subarray(end + 4);
  let body: Buffer;
  if (headers.has('content-length')) {
    const n = Number(headers.get('content-length'));
    if (rest.length < n) return null;
    body = rest.subarray(0, n);
  } else if (headers.get('transfer-encoding') === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      if (eol < 0) return null;
      const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (rest.length < eol + 2 + size + 2) return null;
      if (size === 0) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else {
    body = rest;
  }
  return { status: Number(m[1]), headers, body: body.toString('utf8'), raw: buf.toString('latin1').slice(0, 2000) };
}
