import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { GreenticHost } from '../host.js';
import type { Logger } from '../observability/logger.js';

/** After the drain time, how long the responses of the turns failed at its end get to go out before every connection is cut. */
const LAST_WORDS_MS = 1000;

/**
 * Keeps track of the HTTP requests in flight, so that a stop can answer them and then close
 * their connections: Node keeps a keep-alive connection open after `server.close()` until its
 * keep-alive timeout (72 s with fastify), which is what made a stop take 70 s.
 */
export class HttpDrain {
  readonly #inFlight = new Set<ServerResponse>();
  #stopping = false;

  constructor(server: Server) {
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      // A request that arrives on a kept-alive connection while stopping is the last on it.
      if (this.#stopping) res.shouldKeepAlive = false;
      this.#inFlight.add(res);
      res.once('close', () => this.#inFlight.delete(res));
    });
  }

  /** Requests not answered yet. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Every response from now on (those in flight included) closes its connection when sent (`Connection: close`). */
  lastRequests(): void {
    this.#stopping = true;
    for (const res of this.#inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
  }
}

export interface StopOptions {
  readonly app: FastifyInstance;
  readonly host: GreenticHost;
  readonly drain: HttpDrain;
  /** How long in-flight work may take to finish (ms). */
  readonly drainMs: number;
  /** Resolves when the stop must not wait any more (a second signal). */
  readonly hurry: Promise<void>;
  readonly logger: Logger;
}

/**
 * Stop `serve`: not ready at once (/readyz 503), no new connections, idle keep-alive connections
 * closed, in-flight requests and turns finish within `drainMs`; past it (or at a second signal)
 * the turns still running fail (retryable `unavailable`, sessions unchanged), their answers go
 * out, and every connection is closed. Then the stores close and the data directory is released.
 */
export async function stopGracefully(o: StopOptions): Promise<void> {
  const until = Date.now() + o.drainMs;
  o.host.stopAccepting();
  o.drain.lastRequests();
  const httpClosed = o.app.close();
  const timeUp = new Promise<void>((r) => setTimeout(r, o.drainMs).unref());
  const finished = await Promise.race([httpClosed.then(() => true), timeUp.then(() => false), o.hurry.then(() => false)]);
  if (!finished) {
    o.logger.warn(
      { event: 'drain-timeout', drain_ms: o.drainMs, requests_in_flight: o.drain.inFlight },
      'in-flight requests did not finish in the drain time; failing their turns and closing the connections',
    );
    // Fail the turns still running, so their requests get an answer rather than a cut connection.
    const closing = o.host.close({ drainMs: 0 });
    await Promise.race([httpClosed, new Promise((r) => setTimeout(r, LAST_WORDS_MS).unref())]);
    o.app.server.closeAllConnections();
    await httpClosed;
    await closing;
    return;
  }
  await o.host.close({ drainMs: Math.max(0, until - Date.now()) });
}
