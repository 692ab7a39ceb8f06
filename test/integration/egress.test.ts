import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// @ts-ignore plain JS shared with the demo script
import { nextRequests } from '../support/fake-http.mjs';
// @ts-ignore plain JS shared with the demo script
import { slackEvent, slackHeaders } from '../support/fake-providers.mjs';
import { writeFiles } from '../support/bundle.js';
import { ACME_SLACK_URL, BIGCORP_SLACK_URL, CREDS, eventually, startChannels, type ChannelFixture } from '../support/channels.js';

// Replies of the embedded host delivered to a local fake Slack that misbehaves: outages, 429
// storms, answers that never come, a provider that is slow for one tenant only. acme allows 4
// attempts of 1.5 s each; bigcorp has the defaults.
const WELCOME = 'Welcome to ACME Support! How can I help?';
let f: ChannelFixture;
beforeAll(async () => {
  f = await startChannels({ acmeEgress: { max_attempts: 4, timeout_ms: 1500 } });
});
afterEach(() => f.slack.heal());
afterAll(async () => {
  await f?.close();
});

const tokenOf = (tenant: 'acme' | 'bigcorp') => `Bearer ${CREDS[tenant].slackBot}`;
/** The fake's requests carrying `tenant`'s bot token, from index `from` on. */
const requestsOf = (tenant: 'acme' | 'bigcorp', from = 0) => f.slack.requests.slice(from).filter((r: any) => r.headers.authorization === tokenOf(tenant));
const deliveredOf = (tenant: 'acme' | 'bigcorp', from = 0) => f.slack.delivered.slice(from).filter((d: any) => `Bearer ${d.token}` === tokenOf(tenant));

/** A signed Slack message from `user` to `tenant`'s Slack channel; resolves with the webhook's answer. */
async function say(tenant: 'acme' | 'bigcorp', user: string, text = 'hello') {
  const event = tenant === 'acme' ? slackEvent({ text, user }) : slackEvent({ text, user, team: 'T999999', channel: 'C999999' });
  const body = JSON.stringify(event);
  return f.post(tenant === 'acme' ? ACME_SLACK_URL : BIGCORP_SLACK_URL, body, slackHeaders(CREDS[tenant].slackSigning, body));
}

/** The tenant's egress dead letters, waited for until there are `n` more than `before`. */
async function deadLetters(tenant: string, before: number, n = 1) {
  return eventually(
    async () => {
      const all = (await f.t.host.deadLetters.list(tenant)).filter((l) => l.source === 'egress');
      return all.length >= before + n && all.slice(before);
    },
    30_000,
    `${n} egress dead letter(s) of ${tenant}`,
  );
}
const egressLetterCount = async (tenant: string) => (await f.t.host.deadLetters.list(tenant)).filter((l) => l.source === 'egress').length;

/** The value of counter `name` for acme's Slack channel and `extra` labels (0 when never counted). */
async function metric(name: string, extra: Record<string, string>): Promise<number> {
  const want: Record<string, string> = { tenant: 'acme', env: 'prod', team: 'support', channel: 'slack', provider: 'slack', ...extra };
  const values = (await f.t.host.metrics.registry.getSingleMetric(name)!.get()).values;
  const found = values.find((v) => Object.keys(want).every((k) => String(v.labels[k]) === want[k]));
  return found?.value ?? 0;
}

describe('retries', () => {
  it('an outage is ridden out: after two 503s the reply arrives, once', async () => {
    f.slack.fault(nextRequests(2, { status: 503, body: 'upstream connect error' }));
    const [reqs, got] = [f.slack.requests.length, f.slack.delivered.length];
    expect(await say('acme', 'U0OUTAGE1')).toMatchObject({ status: 200 });
    await eventually(() => deliveredOf('acme', got).length > 0, 30_000, 'the reply after the outage');
    await f.t.host.channels.egress.idle();
    expect(deliveredOf('acme', got).map((d: any) => d.text)).toEqual([WELCOME]);
    expect(requestsOf('acme', reqs)).toHaveLength(3);
    const retries = f.t.logs.lines.filter((l) => l.event === 'egress-retry' && l.tenant_id === 'acme' && String(l.msg).includes('Slack answered 503'));
    expect(retries.map((l) => l.msg)).toEqual([
      'slack: Slack answered 503 (provider-error, HTTP 503; attempt 1 of 4)',
      'slack: Slack answered 503 (provider-error, HTTP 503; attempt 2 of 4)',
    ]);
  });

  it('a 429 storm is waited out as long as Retry-After says, then the reply goes once', async () => {
    f.slack.fault(nextRequests(3, { status: 429, headers: { 'retry-after': '1' }, body: { ok: false, error: 'ratelimited' } }));
    const [reqs, got] = [f.slack.requests.length, f.slack.delivered.length];
    await say('acme', 'U0STORM1');
    await eventually(() => deliveredOf('acme', got).length > 0, 30_000, 'the reply after the storm');
    await f.t.host.channels.egress.idle();
    expect(deliveredOf('acme', got).map((d: any) => d.text)).toEqual([WELCOME]);
    const at = requestsOf('acme', reqs).map((r: any) => r.at as number);
    expect(at).toHaveLength(4);
    // Each retry came no sooner than the second the provider asked for (a lower bound: a busy machine only adds).
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(1000);
  });
});

describe('dead letters', () => {
  it('a provider that keeps failing: the reply is a dead letter of its tenant after max_attempts, counted and logged', async () => {
    f.slack.fault((r: any) => (r.headers.authorization === tokenOf('acme') ? { status: 500, body: 'down' } : undefined));
    const [reqs, letters, bigLetters] = [f.slack.requests.length, await egressLetterCount('acme'), await egressLetterCount('bigcorp')];
    const deadBefore = await metric('greentic_egress_deliveries_total', { outcome: 'dead-lettered' });
    await say('acme', 'U0DOWN1');
    const [letter] = await deadLetters('acme', letters);
    expect(letter).toMatchObject({
      tenant: 'acme',
      source: 'egress',
      reason: 'undeliverable',
      subject: 'greentic.messaging.egress.prod.acme.support.slack',
      detail: 'slack: Slack answered 500 (provider-error, HTTP 500; attempt 4 of 4)',
      deliveries: 4,
    });
    expect(JSON.parse(Buffer.from(letter!.data).toString('utf8'))).toMatchObject({ kind: 'reply', text: WELCOME, reply_to: { channel: 'C789012' } });
    expect(requestsOf('acme', reqs)).toHaveLength(4);
    // Counted (and logged) just after the letter is stored.
    await eventually(
      async () => (await metric('greentic_egress_deliveries_total', { outcome: 'dead-lettered' })) === deadBefore + 1,
      5000,
      'the dead letter counted',
    );
    expect(await metric('greentic_egress_attempts_total', { result: 'provider-error' })).toBeGreaterThanOrEqual(4);
    const failed = f.t.logs.lines.filter((l) => l.event === 'egress-failed' && l.dead_letter_id === letter!.id);
    expect(failed).toEqual([expect.objectContaining({ tenant_id: 'acme', team_id: 'support', channel: 'slack', code: 'provider-error' })]);
    expect(await egressLetterCount('bigcorp')).toBe(bigLetters);
  });

  it('a refusal no retry can fix (a revoked token) is a dead letter at once', async () => {
    f.slack.fault(nextRequests(1, { status: 200, body: { ok: false, error: 'token_revoked' } }));
    const [reqs, letters] = [f.slack.requests.length, await egressLetterCount('acme')];
    await say('acme', 'U0REVOKED1');
    const [letter] = await deadLetters('acme', letters);
    expect(letter!.detail).toBe('slack: Slack answered ok: false (token_revoked) (slack:token_revoked, HTTP 200; attempt 1 of 4)');
    expect(requestsOf('acme', reqs)).toHaveLength(1);
  });

  it('a request that got no answer after it was sent is never sent again: one request, one dead letter to replay', async () => {
    f.slack.fault(nextRequests(1, 'hang'));
    const [reqs, letters] = [f.slack.requests.length, await egressLetterCount('acme')];
    await say('acme', 'U0HANG1');
    const [letter] = await deadLetters('acme', letters);
    expect(letter!.detail).toBe(
      'slack: Slack: no answer within 1500 ms after the request was sent; it may have been delivered (no-answer; attempt 1 of 4); not sent again, since the provider cannot recognise a message sent twice',
    );
    await f.t.host.channels.egress.idle();
    expect(requestsOf('acme', reqs)).toHaveLength(1);
    // The operator decides: a replay is sent once more, to the same place.
    const got = f.slack.delivered.length;
    expect(await f.t.host.deadLetters.replay('acme', letter!.id, f.t.host.bus)).toBe(true);
    await eventually(() => deliveredOf('acme', got).length > 0, 30_000, 'the replayed reply');
    await f.t.host.channels.egress.idle();
    expect(deliveredOf('acme', got).map((d: any) => [d.channel, d.text])).toEqual([['C789012', WELCOME]]);
    expect(await f.t.host.deadLetters.get('acme', letter!.id)).toBeNull();
  });
});

describe('isolation', () => {
  it("a provider hanging on every acme request does not hold up bigcorp's replies", async () => {
    f.slack.fault((r: any) => (r.headers.authorization === tokenOf('acme') ? 'hang' : undefined));
    const [reqs, got] = [f.slack.requests.length, f.slack.delivered.length];
    // More acme replies than acme may have in flight (4), so its queue is full of waiting work.
    await Promise.all(['U0SLOW1', 'U0SLOW2', 'U0SLOW3', 'U0SLOW4', 'U0SLOW5', 'U0SLOW6'].map((u) => say('acme', u)));
    await eventually(() => requestsOf('acme', reqs).length >= 4, 30_000, 'acme requests hanging at the fake');
    await say('bigcorp', 'U0FAST1');
    await eventually(() => deliveredOf('bigcorp', got).length > 0, 30_000, "bigcorp's reply");
    // bigcorp's reply went while acme's requests were still unanswered.
    expect(deliveredOf('acme', got)).toEqual([]);
    expect(requestsOf('acme', reqs).length).toBeLessThanOrEqual(4);
    f.slack.heal();
    await f.t.host.channels.egress.idle();
  });
});

describe('tenants that change while serving', () => {
  it('a tenant added at run time gets its Slack replies delivered, and none once it is removed', async () => {
    writeFiles(f.bundleDir, {
      'tenants/globex/tenant.yaml': 'tenant:\n  id: globex\n  name: "Globex"\ngrants:\n  components:\n    reply: {}\n',
      'tenants/globex/teams/support.yaml':
        'team:\n  id: support\n  name: "Support"\n  tenant_id: globex\nchannels:\n  slack:\n    provider: messaging-slack\n    config: { workspace_id: "T555555", channel_id: "C555555" }\n',
      'tenants/globex/flows/globex_support_flow.yaml':
        'name: globex_support_flow\nversion: "1.0"\nnodes:\n  - id: hello\n    type: reply\n    config: { message: "Globex here." }\n',
    });
    expect(await f.t.host.tenants.reload('globex')).toMatchObject({ tenant: 'globex', outcome: 'added', problems: [] });
    const team = { kind: 'team', tenant: 'globex', team: 'support' } as const;
    await f.t.host.secrets.set(team, 'slack_signing_secret', CREDS.globex.slackSigning);
    await f.t.host.secrets.set(team, 'slack_bot_token', CREDS.globex.slackBot);
    const url = '/ingress/slack/globex/prod/support/slack';
    const sayGlobex = (user: string) => {
      const body = JSON.stringify(slackEvent({ text: 'hi', user, team: 'T555555', channel: 'C555555' }));
      return f.post(url, body, slackHeaders(CREDS.globex.slackSigning, body));
    };
    const got = f.slack.delivered.length;
    expect(await sayGlobex('U0GLOBEX1')).toMatchObject({ status: 200 });
    await eventually(() => f.slack.delivered.slice(got).some((d: any) => d.token === CREDS.globex.slackBot), 30_000, "globex's reply");
    await f.t.host.channels.egress.idle();
    expect(f.slack.delivered.slice(got).map((d: any) => [d.token, d.channel, d.text])).toEqual([[CREDS.globex.slackBot, 'C555555', 'Globex here.']]);

    // Removed: its webhook is gone, and nothing more is delivered for it.
    (await import('node:fs')).rmSync(`${f.bundleDir}/tenants/globex`, { recursive: true });
    expect(await f.t.host.tenants.reload('globex')).toMatchObject({ tenant: 'globex', outcome: 'removed' });
    expect((await sayGlobex('U0GLOBEX2')).status).toBe(404);
  });
});
