import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-ignore plain JS shared with the demo script
import { nextRequests } from '../support/fake-http.mjs';
// @ts-ignore plain JS shared with the demo script
import { slackEvent, slackHeaders } from '../support/fake-providers.mjs';
import { ACME_SLACK_URL, CREDS, eventually, startChannels, type ChannelFixture } from '../support/channels.js';
import { startNats, type NatsServer } from '../support/nats.js';

// Two instances of one deployment on a real nats-server, sharing the bundle, the secrets (KV)
// and the fakes: every reply on acme's egress stream is delivered by exactly one of them.
const WELCOME = 'Welcome to ACME Support! How can I help?';
process.env.GREENTIC_MASTER_KEY = 'cd'.repeat(32);
let nats: NatsServer;
let a: ChannelFixture;
let b: ChannelFixture;
beforeAll(async () => {
  nats = await startNats();
  const host = { nats: { url: nats.url }, workers: 1, spare: false };
  a = await startChannels({ host, acmeEgress: { max_attempts: 5, timeout_ms: 2000 } });
  b = await startChannels({ host, fakes: a, bundleDir: a.bundleDir });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await nats?.dispose();
});

/** A signed Slack message from `user` to acme's Slack channel, posted to instance `f`. */
async function say(f: ChannelFixture, user: string) {
  const body = JSON.stringify(slackEvent({ text: 'hello', user }));
  return f.post(ACME_SLACK_URL, body, slackHeaders(CREDS.acme.slackSigning, body));
}
const deliveredBy = (f: ChannelFixture) => f.t.logs.lines.filter((l) => l.event === 'egress-delivered' && l.tenant_id === 'acme').length;

describe('egress on NATS', () => {
  it('every reply of webhooks taken by either instance is delivered once, by one of them', async () => {
    const before = a.slack.delivered.length;
    const users = Array.from({ length: 16 }, (_, i) => `U0NATS${i}`);
    const answers = await Promise.all(users.map((u, i) => say(i % 2 ? a : b, u)));
    expect(answers.map((r) => r.status)).toEqual(users.map(() => 200));
    await eventually(() => a.slack.delivered.length >= before + users.length, 60_000, 'all replies at the fake');
    await Promise.all([a.t.host.channels.egress.idle(), b.t.host.channels.egress.idle()]);
    // Let any second delivery (there must be none) reach the fake.
    await new Promise((r) => setTimeout(r, 1000));
    expect(a.slack.delivered.slice(before).map((d: any) => d.text)).toEqual(users.map(() => WELCOME));
    expect(deliveredBy(a) + deliveredBy(b)).toBe(users.length);
  });

  it('an outage seen by one instance is retried from the stream, and nothing is delivered twice', async () => {
    a.slack.fault(nextRequests(3, { status: 503, body: 'down' }));
    const before = a.slack.delivered.length;
    const users = ['U0NOUT1', 'U0NOUT2', 'U0NOUT3', 'U0NOUT4'];
    await Promise.all(users.map((u, i) => say(i % 2 ? a : b, u)));
    await eventually(() => a.slack.delivered.length >= before + users.length, 60_000, 'all replies after the outage');
    await Promise.all([a.t.host.channels.egress.idle(), b.t.host.channels.egress.idle()]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(a.slack.delivered.slice(before)).toHaveLength(users.length);
    expect(await a.t.host.deadLetters.list('acme')).toEqual([]);
  });
});
