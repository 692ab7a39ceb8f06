import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

/** One JetStream or KV API call an attacker makes, against one target. */
export interface Attempt {
  readonly verb: string;
  readonly subject: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What came of it: refused (permission, nothing answered, an API error) or answered successfully. */
export interface Outcome {
  readonly attempt: Attempt;
  readonly ok: boolean;
  readonly detail: string;
}

/** The victim tenant's JetStream names (the same grammar the host builds). */
export function victimNames(t: string) {
  return {
    streams: [
      `GREENTIC_INGRESS_${t}`,
      `GREENTIC_EGRESS_${t}`,
      `GREENTIC_DLQ_${t}`,
      `GREENTIC_AUDIT_${t}`,
      `KV_greentic_sessions_${t}`,
      `KV_greentic_secrets_${t}`,
    ],
    consumer: { stream: `GREENTIC_INGRESS_${t}`, name: `ingress-${t}` },
    buckets: [`greentic_sessions_${t}`, `greentic_secrets_${t}`],
    ingress: `greentic.messaging.ingress.prod.${t}.support.slack`,
    egress: `greentic.messaging.egress.prod.${t}.support.slack`,
  };
}

/**
 * The tokens random subjects are made of: JetStream and KV API words, the host's subject words,
 * ids and wildcards, the victim's stream, bucket and consumer names, and `extra` (sessions and
 * other names a test knows).
 */
export function subjectTokens(victim: string, extra: readonly string[]): string[] {
  const v = victimNames(victim);
  return [
    ...[
      '$JS',
      'API',
      'STREAM',
      'CONSUMER',
      'INFO',
      'CREATE',
      'DURABLE',
      'UPDATE',
      'DELETE',
      'PURGE',
      'MSG',
      'GET',
      'NEXT',
      'DIRECT',
      'ACK',
      'NAMES',
      'LIST',
      '$KV',
    ],
    ...['greentic', 'messaging', 'ingress', 'egress', 'deadletter', 'prod', 'staging', 'acme', 'bigcorp', 'support', 'helpdesk', 'slack', 'webchat', '*', '>'],
    ...v.streams,
    ...v.buckets,
    v.consumer.name,
    ...extra,
  ];
}

/**
 * Every JetStream and KV API verb, each aimed at each of the victim's resources: streams
 * (create, update, delete, info with a subjects filter, list, names, purge, msg get, msg delete,
 * direct get), consumers (create with every subject form, info, list, names, delete, next, ack),
 * KV (put, rollup put, delete, purge, get, and the consumers behind watch, keys and history).
 */
export function attemptsAgainst(victim: string, sessionKey: string): Attempt[] {
  const v = victimNames(victim);
  const out: Attempt[] = [];
  const wide = `greentic.messaging.ingress.>`;
  for (const s of v.streams) {
    const subjects = s.startsWith('KV_') ? [`$KV.${s.slice(3)}.>`] : [wide];
    out.push(
      { verb: 'stream create', subject: `$JS.API.STREAM.CREATE.${s}`, body: { name: s, subjects } },
      { verb: 'stream update', subject: `$JS.API.STREAM.UPDATE.${s}`, body: { name: s, subjects, allow_rollup_hdrs: true } },
      { verb: 'stream delete', subject: `$JS.API.STREAM.DELETE.${s}` },
      { verb: 'stream info subjects_filter', subject: `$JS.API.STREAM.INFO.${s}`, body: { subjects_filter: '>' } },
      { verb: 'stream purge', subject: `$JS.API.STREAM.PURGE.${s}`, body: {} },
      { verb: 'stream msg get', subject: `$JS.API.STREAM.MSG.GET.${s}`, body: { seq: 1 } },
      { verb: 'stream msg get last', subject: `$JS.API.STREAM.MSG.GET.${s}`, body: { last_by_subj: subjects[0]!.replace('>', '*') } },
      { verb: 'stream msg delete', subject: `$JS.API.STREAM.MSG.DELETE.${s}`, body: { seq: 1 } },
      { verb: 'direct get', subject: `$JS.API.DIRECT.GET.${s}`, body: { seq: 1 } },
      {
        verb: 'consumer create (ephemeral)',
        subject: `$JS.API.CONSUMER.CREATE.${s}`,
        body: { stream_name: s, config: { ack_policy: 'none', filter_subject: subjects[0] } },
      },
      {
        verb: 'consumer create (named, filter in subject)',
        subject: `$JS.API.CONSUMER.CREATE.${s}.thief.${subjects[0]}`,
        body: { stream_name: s, config: { name: 'thief', ack_policy: 'explicit', filter_subject: subjects[0] } },
      },
      {
        verb: 'consumer create (durable)',
        subject: `$JS.API.CONSUMER.DURABLE.CREATE.${s}.thief`,
        body: { stream_name: s, config: { durable_name: 'thief', ack_policy: 'explicit' } },
      },
      { verb: 'consumer list', subject: `$JS.API.CONSUMER.LIST.${s}`, body: {} },
      { verb: 'consumer names', subject: `$JS.API.CONSUMER.NAMES.${s}`, body: {} },
    );
  }
  const c = v.consumer;
  out.push(
    { verb: 'stream list', subject: '$JS.API.STREAM.LIST', body: {} },
    { verb: 'stream names', subject: '$JS.API.STREAM.NAMES', body: {} },
    { verb: 'stream names by subject', subject: '$JS.API.STREAM.NAMES', body: { subject: v.ingress } },
    { verb: 'consumer info', subject: `$JS.API.CONSUMER.INFO.${c.stream}.${c.name}` },
    { verb: 'consumer delete', subject: `$JS.API.CONSUMER.DELETE.${c.stream}.${c.name}` },
    {
      verb: 'consumer update',
      subject: `$JS.API.CONSUMER.CREATE.${c.stream}.${c.name}`,
      body: { stream_name: c.stream, config: { durable_name: c.name, ack_policy: 'explicit', action: 'update' } },
    },
    { verb: 'consumer next', subject: `$JS.API.CONSUMER.MSG.NEXT.${c.stream}.${c.name}`, body: { batch: 10, expires: 200_000_000 } },
    { verb: 'ack', subject: `$JS.ACK.${c.stream}.${c.name}.1.1.1.0.0` },
    { verb: 'publish ingress (reused Nats-Msg-Id)', subject: v.ingress, body: { id: 'm1', user: 'x', text: 'hi' }, headers: { 'Nats-Msg-Id': 'victim-id' } },
    { verb: 'publish egress', subject: v.egress, body: { kind: 'reply', in_reply_to: 'm1', session: 's', user: 'u', text: 'forged', seq: 0 } },
  );
  for (const b of v.buckets) {
    const key = `$KV.${b}.${sessionKey}`;
    out.push(
      { verb: 'kv put', subject: key, body: 'x' },
      { verb: 'kv put with Nats-Rollup: all', subject: key, body: 'x', headers: { 'Nats-Rollup': 'all' } },
      { verb: 'kv put with Nats-Rollup: sub', subject: key, body: 'x', headers: { 'Nats-Rollup': 'sub' } },
      { verb: 'kv delete', subject: key, headers: { 'KV-Operation': 'DEL' } },
      { verb: 'kv purge', subject: key, headers: { 'KV-Operation': 'PURGE', 'Nats-Rollup': 'sub' } },
      { verb: 'kv get (direct)', subject: `$JS.API.DIRECT.GET.KV_${b}.${key}` },
      { verb: 'kv get (msg get)', subject: `$JS.API.STREAM.MSG.GET.KV_${b}`, body: { last_by_subj: key } },
      {
        verb: 'kv watch / keys / history (ordered consumer)',
        subject: `$JS.API.CONSUMER.CREATE.KV_${b}`,
        body: {
          stream_name: `KV_${b}`,
          config: { ack_policy: 'none', deliver_policy: 'all', filter_subject: `$KV.${b}.>`, deliver_subject: '_INBOX_thief.1' },
        },
      },
    );
  }
  return out;
}

/** Make the attempt; a reply is success only when it is a JetStream answer without an error. */
export async function attempt(nc: NatsConnection, a: Attempt, timeoutMs = 1500): Promise<Outcome> {
  const h = a.headers ? natsHeaders() : undefined;
  for (const [k, val] of Object.entries(a.headers ?? {})) h!.set(k, val);
  const data = a.body === undefined ? undefined : typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
  try {
    const r = await nc.request(a.subject, data, { timeout: timeoutMs, headers: h });
    const text = r.string();
    if (r.headers?.hasError) return { attempt: a, ok: false, detail: `status ${r.headers.code} ${r.headers.description}` };
    let body: { error?: { description?: string } } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      // A direct get answers with the stored message itself: that would be a leak.
      return { attempt: a, ok: true, detail: `answered ${text.slice(0, 80)}` };
    }
    if (body?.error) return { attempt: a, ok: false, detail: `api error: ${body.error.description}` };
    return { attempt: a, ok: true, detail: `answered ${text.slice(0, 160)}` };
  } catch (e) {
    return { attempt: a, ok: false, detail: (e as Error).message };
  }
}

/** Everything the victim has on the server, read by its own admin: stream states, consumer, every stored message. */
export async function snapshot(nc: NatsConnection, victim: string): Promise<string> {
  const jsm = await jetstreamManager(nc);
  const v = victimNames(victim);
  const out: Record<string, unknown> = {};
  for (const s of v.streams) {
    const info = await jsm.streams.info(s, { subjects_filter: '>' });
    const { messages, bytes, first_seq, last_seq, consumer_count, subjects } = info.state;
    const stored: string[] = [];
    for (let seq = first_seq; seq <= last_seq && seq > 0; seq++) {
      const m = await jsm.streams.getMessage(s, { seq }).catch(() => null);
      if (m) stored.push(`${m.seq} ${m.subject} ${Buffer.from(m.data).toString('base64')}`);
    }
    out[s] = { config: info.config, messages, bytes, first_seq, last_seq, consumer_count, subjects, stored };
  }
  const ci = await jsm.consumers.info(v.consumer.stream, v.consumer.name);
  out.consumer = { config: ci.config, num_pending: ci.num_pending, num_ack_pending: ci.num_ack_pending, delivered: ci.delivered, ack_floor: ci.ack_floor };
  return JSON.stringify(out);
}
