import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MessageBus } from '../../messaging/bus.js';
import type { ChannelMetrics } from '../../messaging/channel-metrics.js';
import { encodeJson, MAX_TEXT_BYTES, OriginSchema, type IngressMessage } from '../../messaging/envelope.js';
import { providerMessageId, providerUserId } from '../../messaging/providers/event-ids.js';
import type { ChannelProvider, InboundMessage, Refusal } from '../../messaging/providers/provider.js';
import type { ChannelProviders } from '../../messaging/providers/registry.js';
import { ingressSubject, type ChannelAddress } from '../../messaging/subjects.js';
import type { Logger } from '../../observability/logger.js';
import { TokenBucket } from '../../sandbox/rate-limit.js';
import { sessionKey } from '../../stores/keys.js';
import type { SessionStore } from '../../stores/session-store.js';
import { defaultSessionId } from '../../flow/executor.js';
import { checkId, InvalidIdError } from '../../tenancy/ids.js';
import type { ChannelModel } from '../../tenancy/model.js';
import { sendError } from '../error-reply.js';

/** Waits for a turn to end with its replies durably queued (the embedded bus keeps nothing itself). */
export interface TurnWaiter {
  /** Start waiting for the end of message `id`'s turn on `address`; call before publishing it. */
  expect(address: ChannelAddress, id: string, timeoutMs: number): { readonly done: Promise<'done' | 'timeout'>; cancel(): void };
}

/** What the webhook routes need, wired by the host's HTTP server. */
export interface IngressBackend {
  readonly bus: MessageBus;
  readonly providers: ChannelProviders;
  readonly sessions: SessionStore;
  readonly logger: Logger;
  readonly metrics: ChannelMetrics;
  /** The channel at `address` of provider `provider`, if this instance serves one there. */
  channel(address: ChannelAddress, provider: string): ChannelModel | null;
  /** Embedded bus: the egress intake that says when a turn's replies are on disk. NATS: null (JetStream's ack is the acknowledgement). */
  readonly turnWaiter: TurnWaiter | null;
}

/** Webhooks being handled at once by this instance; past it, 503 and the provider sends again. */
const MAX_IN_FLIGHT = 1000;
/** Message ids remembered as accepted, and for how long. */
const RECENT_IDS = 10_000;
const RECENT_MS = 15 * 60_000;

type Params = { tenant: string; env: string; team: string; channel: string };
type Outcome = 'accepted' | 'duplicate' | 'pending';

/**
 * The provider webhooks: POST /ingress/{provider}/{tenant}/{env}/{team}/{channel}, one URL per
 * channel. The body is read raw and bounded (the proof covers the raw bytes), the proof is
 * checked with the channel's own credentials before anything is parsed, and a verified message
 * is published on the channel's ingress subject under an id derived from the provider's event
 * id, so a redelivery is answered once. The answer is 200 once the message is durable: stored
 * in JetStream, or on the embedded bus once its turn ended and its replies are on disk.
 */
export function registerIngressRoutes(app: FastifyInstance, backend: IngressBackend): void {
  const inFlight = new Map<string, Promise<Outcome>>();
  const recent = new Map<string, number>();
  const logBuckets = new Map<string, TokenBucket>();

  /**
   * Refusals are logged, but at most a few a second per channel and kind of refusal: a flood of
   * forged requests is counted, not written out, and cannot hide a refusal of another kind (a
   * channel that is not ready says which secret is missing, however many forgeries came before).
   */
  const logRefusal = (labels: Record<string, string>, r: Refusal, ip: string) => {
    const key = `${labels.tenant}/${labels.env}/${labels.team}/${labels.channel}/${r.code}`;
    let b = logBuckets.get(key);
    if (!b) {
      if (logBuckets.size >= 10_000) logBuckets.delete(logBuckets.keys().next().value!);
      b = new TokenBucket(2, 20);
      logBuckets.set(key, b);
    }
    if (!b.take()) return;
    const level = r.status === 503 ? 'error' : 'warn';
    backend.logger[level](
      {
        event: 'webhook-refused',
        tenant_id: labels.tenant,
        env_id: labels.env,
        team_id: labels.team,
        channel: labels.channel,
        provider: labels.provider,
        code: r.code,
        reason: r.message,
        client: ip,
      },
      'webhook refused',
    );
  };

  const rememberAccepted = (id: string) => {
    const now = Date.now();
    recent.delete(id);
    recent.set(id, now + RECENT_MS);
    while (recent.size > RECENT_IDS) recent.delete(recent.keys().next().value!);
  };
  const seenRecently = (id: string) => {
    const until = recent.get(id);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    recent.delete(id);
    return false;
  };

  for (const name of backend.providers.names()) {
    const provider = backend.providers.get(name)!;
    app.register(async (scope) => {
      // Raw bytes of any content type: the signature is over them, and nothing is parsed before it holds.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: provider.maxBodyBytes }, (_req, body, done) => done(null, body));
      scope.post<{ Params: Params }>(
        `/ingress/${name}/:tenant/:env/:team/:channel`,
        { bodyLimit: provider.maxBodyBytes, schema: { hide: true } },
        (req, reply) => handle(provider, req, reply),
      );
    });
  }
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, body));
    scope.post('/ingress/:provider/:tenant/:env/:team/:channel', { schema: { hide: true } }, async (_req, reply) =>
      sendError(reply, 404, 'unknown-provider', `webhooks are served for ${backend.providers.names().join(', ')} only`),
    );
  });

  async function handle(provider: ChannelProvider<unknown>, req: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<FastifyReply> {
    let address: ChannelAddress;
    try {
      const p = req.params;
      address = {
        tenant: checkId('tenant', p.tenant, 'URL path'),
        env: checkId('env', p.env, 'URL path'),
        team: checkId('team', p.team, 'URL path'),
        channel: checkId('channel', p.channel, 'URL path'),
      };
    } catch (e) {
      if (e instanceof InvalidIdError) return sendError(reply, 400, 'invalid-id', e.message);
      throw e;
    }
    const channel = backend.channel(address, provider.name);
    const where = `/ingress/${provider.name}/${address.tenant}/${address.env}/${address.team}/${address.channel}`;
    if (!channel) return sendError(reply, 404, 'unknown-channel', `no ${provider.name} channel at ${where}`);
    const labels = { ...address, provider: provider.name };
    const count = (outcome: string, code = '') => backend.metrics.webhooks.inc({ ...labels, outcome, code });
    const refuse = (r: Refusal) => {
      count('refused', r.code);
      logRefusal(labels, r, req.ip);
      // What is missing is the operator's business (the log says); the caller learns only that it is not ready.
      return sendError(reply, r.status, r.code, r.status === 503 ? 'this channel cannot take webhooks right now (see the host log)' : r.message);
    };

    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const wreq = { headers: req.headers, body, now: Date.now() };
    const ctx = backend.providers.context(provider, channel, address);
    let verified;
    try {
      verified = await provider.verify(wreq, ctx);
    } catch (e) {
      return refuse({ status: 503, code: 'channel-not-ready', message: `the channel's credentials cannot be read: ${(e as Error).message}` });
    }
    if (!verified.ok) return refuse(verified.refusal);

    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch {
      return refuse({ status: 400, code: 'invalid-json', message: 'the body is not UTF-8 JSON' });
    }
    const event = provider.normalise(json, verified.proof, wreq, ctx);
    if (event.kind === 'refused') return refuse(event.refusal);
    if (event.kind === 'handshake') {
      count('handshake');
      return reply.code(200).type('application/json').send(event.body);
    }
    if (event.kind === 'ignored') {
      count('ignored');
      return reply.code(200).type('application/json').send({ ok: true, ignored: event.reason });
    }

    const m = event.message;
    const id = providerMessageId(provider.name, address, m.eventId);
    const envelope = ingressOf(provider, address, id, m);
    if (!envelope) return refuse({ status: 400, code: 'invalid-event', message: "the provider's ids or attachments are out of bounds" });
    if (seenRecently(id)) {
      count('duplicate');
      return reply.code(200).type('application/json').send({ ok: true, duplicate: true });
    }
    let work = inFlight.get(id);
    const first = !work;
    if (!work) {
      if (inFlight.size >= MAX_IN_FLIGHT)
        return reply
          .code(503)
          .header('retry-after', '1')
          .type('application/json')
          .send({ error: { code: 'busy', message: 'too many webhooks at once; send it again' } });
      work = accept(address, envelope, provider.ackWaitMs).finally(() => inFlight.delete(id));
      inFlight.set(id, work);
    }
    let outcome: Outcome;
    try {
      outcome = await work;
    } catch (e) {
      backend.logger.error(
        {
          event: 'webhook-publish-failed',
          tenant_id: address.tenant,
          env_id: address.env,
          team_id: address.team,
          channel: address.channel,
          err: (e as Error).message,
        },
        'could not publish a webhook message',
      );
      count('refused', 'unavailable');
      return reply
        .code(503)
        .header('retry-after', '5')
        .type('application/json')
        .send({ error: { code: 'unavailable', message: 'the message could not be stored; send it again' } });
    }
    if (outcome === 'pending') {
      count('pending');
      return reply
        .code(503)
        .header('retry-after', '5')
        .type('application/json')
        .send({ error: { code: 'pending', message: 'the message is still being handled; send it again' } });
    }
    rememberAccepted(id);
    const duplicate = outcome === 'duplicate' || !first;
    count(duplicate ? 'duplicate' : 'accepted');
    return reply
      .code(200)
      .type('application/json')
      .send(duplicate ? { ok: true, duplicate: true } : { ok: true });
  }

  /** Publish the message; on the embedded bus, wait for its turn and replies to be on disk. */
  async function accept(address: ChannelAddress, msg: IngressMessage, waitMs: number): Promise<Outcome> {
    if (!backend.bus.redelivers) {
      // After a restart the embedded host remembers handled messages only in their sessions.
      const stored = await backend.sessions.get(sessionKey(address, defaultSessionId(address.channel, msg.user), 'webhook'));
      if (stored?.record.recent_messages.includes(msg.id)) return 'duplicate';
    }
    const wait = backend.turnWaiter?.expect(address, msg.id, waitMs);
    try {
      await backend.bus.publishDurable(ingressSubject(address), encodeJson(msg), msg.id);
    } catch (e) {
      wait?.cancel();
      throw e;
    }
    if (!wait) return 'accepted';
    return (await wait.done) === 'done' ? 'accepted' : 'pending';
  }
}

/** The ingress envelope of a verified message, or null when the provider's fields are out of the envelope's bounds. */
function ingressOf(provider: ChannelProvider<unknown>, address: ChannelAddress, id: string, m: InboundMessage): IngressMessage | null {
  const origin = OriginSchema.safeParse({
    provider: provider.name,
    event_id: m.eventId,
    message_id: m.messageId,
    user_id: m.userId,
    ...(m.userName === undefined ? {} : { user_name: m.userName.slice(0, 256) }),
    ...(m.attachments.length > 0 ? { attachments: m.attachments } : {}),
    reply_to: m.replyTo,
  });
  if (!origin.success) return null;
  return { id, user: providerUserId(provider.name, address.tenant, m.userId), text: utf8Prefix(m.text, MAX_TEXT_BYTES), origin: origin.data };
}

/** The longest prefix of `text` that is at most `max` bytes of UTF-8 (never half a character). */
function utf8Prefix(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let cut = Buffer.from(text).subarray(0, max).toString('utf8');
  // A cut inside a character decodes to U+FFFD at the end: drop it.
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1);
  return cut;
}
