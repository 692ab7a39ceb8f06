import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-ignore plain JS shared with the demo script
import { slackEvent, slackHeaders, teamsActivity, telegramUpdate } from '../support/fake-providers.mjs';
import { ACME_SLACK_URL, ACME_TEAMS_URL, ACME_TELEGRAM_URL, CREDS, eventually, startChannels, type ChannelFixture } from '../support/channels.js';

let f: ChannelFixture;
beforeAll(async () => {
  f = await startChannels();
});
afterAll(async () => {
  await f?.close();
});

/** POST a Slack event signed with acme's signing secret. */
async function slack(event: object, extra: Record<string, string> = {}) {
  const body = JSON.stringify(event);
  return f.post(ACME_SLACK_URL, body, { ...slackHeaders(CREDS.acme.slackSigning, body), ...extra });
}

describe('Slack', () => {
  it('answers the url_verification handshake with its challenge', async () => {
    const r = await slack({ token: 'x', challenge: 'c3po-r2d2-challenge', type: 'url_verification' });
    expect(r).toMatchObject({ status: 200, body: { challenge: 'c3po-r2d2-challenge' } });
  });

  it('turns a signed message into a turn whose reply goes to chat.postMessage with the bot token', async () => {
    const before = f.slack.delivered.length;
    const r = await slack(slackEvent({ text: 'hello', user: 'U0SLACK1' }));
    // Embedded: answered once the turn is done and its reply is on disk.
    expect(r).toMatchObject({ status: 200, body: { ok: true } });
    const got = await eventually(() => f.slack.delivered.length > before && f.slack.delivered.slice(before), 15_000, 'the reply at the fake');
    expect(got).toEqual([expect.objectContaining({ channel: 'C789012', text: 'Welcome to ACME Support! How can I help?' })]);
    const req = f.slack.requests.at(-1)!;
    expect(req.headers.authorization).toBe(`Bearer ${CREDS.acme.slackBot}`);
    expect(req.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('answers a retry of the same event (X-Slack-Retry-Num) once, without running it again', async () => {
    const event = slackEvent({ text: 'hello', user: 'U0SLACK2' });
    const before = f.slack.delivered.length;
    expect(await slack(event)).toMatchObject({ status: 200, body: { ok: true } });
    for (const n of ['1', '2', '3']) {
      expect(await slack(event, { 'x-slack-retry-num': n, 'x-slack-retry-reason': 'http_timeout' })).toMatchObject({
        status: 200,
        body: { ok: true, duplicate: true },
      });
    }
    await f.t.host.channels.egress.idle();
    expect(f.slack.delivered.slice(before).map((d: { text: string }) => d.text)).toEqual(['Welcome to ACME Support! How can I help?']);
  });

  it('continues the conversation of the same Slack user, and replies in the thread it was asked in', async () => {
    const before = f.slack.delivered.length;
    const answers = [];
    answers.push(await slack(slackEvent({ text: 'hi', user: 'U0SLACK3' })));
    answers.push(await slack(slackEvent({ text: 'I was charged twice', user: 'U0SLACK3', thread_ts: '1700000000.000100' })));
    // A turn slower than Slack's 3 s is answered 503 and still runs: wait for its reply.
    await eventually(
      () => f.slack.delivered.length >= before + 2,
      20_000,
      `both replies at the fake (webhooks answered ${JSON.stringify(answers.map((a) => [a.status, a.body]))})`,
    );
    expect(f.slack.delivered.slice(before).map(({ token, ...d }: any) => d)).toEqual([
      expect.objectContaining({ text: 'Welcome to ACME Support! How can I help?' }),
      expect.objectContaining({ text: 'Sorry about the billing trouble. What is the email on your account?', thread_ts: '1700000000.000100' }),
    ]);
  });
});

describe('Telegram', () => {
  it('takes an update carrying the secret_token and answers with sendMessage on /bot<token>/', async () => {
    const before = f.telegram.delivered.length;
    const update = telegramUpdate({ text: 'hello', userId: 7001, messageId: 55 });
    const r = await f.post(ACME_TELEGRAM_URL, JSON.stringify(update), {
      'content-type': 'application/json',
      'x-telegram-bot-api-secret-token': CREDS.acme.telegramSecret,
    });
    expect(r).toMatchObject({ status: 200, body: { ok: true } });
    await f.t.host.channels.egress.idle();
    expect(f.telegram.delivered.slice(before)).toEqual([{ chat_id: '-1001234567890', text: 'Welcome to ACME Support! How can I help?', reply_to: 55 }]);
    expect(f.telegram.requests.at(-1)!.path).toBe(`/bot${CREDS.acme.telegramBot}/sendMessage`);
  });
});

describe('Teams (Bot Framework)', () => {
  it('verifies the JWT against the OpenID metadata and replies to serviceUrl with a client-credentials token', async () => {
    const before = f.bot.delivered.length;
    const activity = teamsActivity({ text: '<at>ACME Sales</at> hello', serviceUrl: f.bot.serviceUrl, appId: CREDS.acme.teamsAppId, id: 'act-001' });
    const r = await f.post(ACME_TEAMS_URL, JSON.stringify(activity), { 'content-type': 'application/json', authorization: await f.bot.sign(activity) });
    expect(r).toMatchObject({ status: 200, body: { ok: true } });
    await f.t.host.channels.egress.idle();
    expect(f.bot.delivered.slice(before)).toEqual([
      {
        conversation: 'a:1conversation-xyz',
        replyToId: 'act-001',
        text: 'Hi from ACME Sales! What product are you interested in?',
        from: { id: `28:${CREDS.acme.teamsAppId}`, name: 'ACME Sales' },
        recipient: { id: '29:1user-abc', name: 'Ann' },
      },
    ]);
    const token = f.bot.requests.find((q: { path: string }) => q.path === '/token')!;
    expect(new URLSearchParams(token.body).get('client_id')).toBe(CREDS.acme.teamsAppId);
  });
});
