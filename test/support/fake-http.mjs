// A local HTTP server for a fake provider: records every request, answers through the fake's
// own handler, and can be told to misbehave (an outage, a storm of 429s, slowness, hanging).
import { createServer } from 'node:http';

/**
 * @typedef {{ method: string, path: string, headers: Record<string, string | string[] | undefined>, body: string, json: any, at: number }} RecordedRequest
 * @typedef {{ status: number, headers?: Record<string, string>, body?: unknown }} FakeAnswer
 * @typedef {(req: RecordedRequest) => FakeAnswer | 'hang' | 'reset' | undefined | Promise<FakeAnswer | 'hang' | 'reset' | undefined>} Fault
 */

/**
 * Start a fake on 127.0.0.1 (a free port unless `port` is given).
 * @param {(req: RecordedRequest) => FakeAnswer | Promise<FakeAnswer>} handler
 * @param {{ port?: number }} [opts]
 */
export async function startFakeServer(handler, opts = {}) {
  /** @type {RecordedRequest[]} */
  const requests = [];
  /** @type {Fault[]} */
  const faults = [];
  let delayMs = 0;
  const hanging = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      /** @type {RecordedRequest} */
      const r = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json, at: Date.now() };
      requests.push(r);
      if (delayMs > 0) await new Promise((ok) => setTimeout(ok, delayMs));
      for (const f of [...faults]) {
        const a = await f(r);
        if (a === undefined) continue;
        if (a === 'hang') {
          hanging.add(res);
          return;
        }
        if (a === 'reset') {
          req.socket.destroy();
          return;
        }
        return send(res, a);
      }
      try {
        send(res, await handler(r));
      } catch (e) {
        send(res, { status: 500, body: { error: String(e) } });
      }
    });
  });
  await new Promise((ok) => server.listen(opts.port ?? 0, '127.0.0.1', ok));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    /** Answer requests through `fault` first (first matching fault wins); returns a function that removes it. */
    fault(/** @type {Fault} */ fault) {
      faults.push(fault);
      return () => faults.splice(faults.indexOf(fault), 1);
    },
    /** Remove every fault. */
    heal() {
      faults.length = 0;
      delayMs = 0;
      for (const res of hanging) res.destroy();
      hanging.clear();
    },
    /** Answer every request after `ms`. */
    slow(/** @type {number} */ ms) {
      delayMs = ms;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((ok) => server.close(() => ok(undefined)));
    },
  };
}

function send(res, /** @type {FakeAnswer} */ a) {
  const body = a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
  res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
  res.end(body);
}

/** A fault that answers the next `n` requests (counted from now) with `answer`. */
export function nextRequests(/** @type {number} */ n, /** @type {FakeAnswer | 'hang' | 'reset'} */ answer) {
  let left = n;
  return () => (left-- > 0 ? answer : undefined);
}
