import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-ignore plain JS shared with the demo script
import { slackEvent, slackHeaders, teamsActivity, telegramUpdate } from '../support/fake-providers.mjs';
import {
  ACME_SLACK_URL,
  ACME_TEAMS_URL,
  ACME_TELEGRAM_URL,
  BIGCORP_SLACK_URL,
  BIGCORP_TEAMS_URL,
  BIGCORP_TELEGRAM_URL,
  CREDS,
  startChannels,
  type ChannelFixture,
} from '../support/channels.js';

// An attacker controls every byte of a webhook request but holds no tenant's credentials (or
// holds another tenant's). Each class of forgery is generated, not listed, and must be refused
// with its exact message, with nothing published on any ingress subject.
const RUNS = Number(process.env.GREENTIC_FUZZ_RUNS ?? 40);

let f: ChannelFixture;
let published = 0;
beforeAll(async () => {
  f = await startChannels();
  for (const t of ['acme', 'bigcorp']) f.t.host.bus.subscribe(`greentic.messaging.ingress.*.${t}.*.*`, () => void published++);
});
afterAll(async () => {
  await f?.close();
});

const MISMATCH = 'the signature does not match (another signing secret, or a changed body or timestamp)';
const refusal = (status: number, code: string, message: string) => ({ status, body: { error: { code, message } } });

/** Run `attack`, then check that nothing reached an ingress subject. */
async function nothingPublished(attack: () => Promise<void>): Promise<void> {
  const before = published;
  await attack();
  await new Promise((r) => setImmediate(r));
  expect(published).toBe(before);
}

describe('Slack webhooks', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it('unsigned, half-signed or repeated headers are refused', async () => {
    const body = JSON.stringify(slackEvent({ text: 'hi' }));
    const full = slackHeaders(CREDS.acme.slackSigning, body);
    await nothingPublished(async () => {
      const missing = refusal(401, 'missing-signature', 'the request needs one X-Slack-Signature and one X-Slack-Request-Timestamp header');
      expect(await f.post(ACME_SLACK_URL, body, { 'content-type': 'application/json' })).toMatchObject(missing);
      expect(await f.post(ACME_SLACK_URL, body, { 'x-slack-signature': full['x-slack-signature'] })).toMatchObject(missing);
      expect(await f.post(ACME_SLACK_URL, body, { 'x-slack-request-timestamp': full['x-slack-request-timestamp'] })).toMatchObject(missing);
      // Two signatures (one of them valid) is not one signature (Node joins them with a comma).
      const h = new Headers({ 'x-slack-request-timestamp': full['x-slack-request-timestamp'] });
      h.append('x-slack-signature', full['x-slack-signature']);
      h.append('x-slack-signature', `v0=${'0'.repeat(64)}`);
      const res = await fetch(`${f.base}${ACME_SLACK_URL}`, { method: 'POST', headers: h, body });
      expect({ status: res.status, body: await res.json() }).toMatchObject(
        refusal(401, 'invalid-signature', 'X-Slack-Signature is not a v0 signature (v0= and 64 hex digits)'),
      );
    });
  });

  it('any timestamp or signature header an attacker makes up is refused with the message for its class', async () => {
    const body = JSON.stringify(slackEvent({ text: 'hi' }));
    await nothingPublished(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.stringMatching(/^[0-9]{1,12}$/),
            fc.integer({ min: -400, max: 400 }).map((d) => String(now() + d)),
            fc.string({ maxLength: 20 }),
          ),
          fc.oneof(fc.stringMatching(/^v0=[0-9a-f]{64}$/), fc.stringMatching(/^[\x21-\x7e]{1,80}$/)),
          async (ts, sig) => {
            const r = await f.post(ACME_SLACK_URL, body, { 'x-slack-request-timestamp': ts, 'x-slack-signature': sig });
            expect(r.status).toBe(401);
            const age = /^[0-9]{1,12}$/.test(ts) ? Math.round(Date.now() / 1000 - Number(ts)) : NaN;
            const expected = !/^[0-9]{1,12}$/.test(ts)
              ? 'X-Slack-Request-Timestamp is not a Unix time in seconds'
              : Math.abs(age) > 300
                ? `the request was signed ${Math.abs(age)} s ${age >= 0 ? 'ago' : 'in the future'}; at most 300 s are accepted`
                : !/^v0=[0-9a-f]{64}$/.test(sig)
                  ? 'X-Slack-Signature is not a v0 signature (v0= and 64 hex digits)'
                  : MISMATCH;
            // A second may pass between computing the age here and there.
            if (expected.startsWith('the request was signed'))
              expect(r.body.error.message).toMatch(/^the request was signed \d+ s (ago|in the future); at most 300 s are accepted$/);
            else expect(r.body.error.message).toBe(expected);
          },
        ),
        { numRuns: RUNS },
      ),
    );
  });

  it('a tampered body, timestamp or signature of a valid request is refused', async () => {
    const original = JSON.stringify(slackEvent({ text: 'transfer 100 to alice' }));
    const ts = now();
    const valid = slackHeaders(CREDS.acme.slackSigning, original, ts);
    await nothingPublished(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(
            // The body changed anywhere (an inserted, removed or replaced piece).
            fc.tuple(fc.nat({ max: original.length }), fc.nat({ max: 5 }), fc.string({ minLength: 0, maxLength: 8 })).map(([at, drop, insert]) => ({
              body: original.slice(0, at) + insert + original.slice(at + drop),
              headers: valid,
            })),
            // The timestamp moved within the window (so it is the signature that fails).
            fc.integer({ min: 1, max: 200 }).map((d) => ({ body: original, headers: { ...valid, 'x-slack-request-timestamp': String(ts - d) } })),
            // One hex digit of the signature changed.
            fc.tuple(fc.nat({ max: 63 }), fc.constantFrom(...'0123456789abcdef')).map(([i, c]) => {
              const sig = valid['x-slack-signature'];
              return { body: original, headers: { ...valid, 'x-slack-signature': `${sig.slice(0, 3 + i)}${c}${sig.slice(4 + i)}` } };
            }),
          ),
          async ({ body, headers }) => {
            fc.pre(
              body !== original ||
                headers['x-slack-signature'] !== valid['x-slack-signature'] ||
                headers['x-slack-request-timestamp'] !== valid['x-slack-request-timestamp'],
            );
            expect(await f.post(ACME_SLACK_URL, body, headers)).toMatchObject(refusal(401, 'invalid-signature', MISMATCH));
          },
        ),
        { numRuns: RUNS },
      ),
    );
  });

  it("a request signed with another tenant's secret is refused, both ways, whatever it says", async () => {
    await nothingPublished(() =>
      fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 200 }), fc.boolean(), async (text, toAcme) => {
          const body = JSON.stringify(slackEvent({ text, team: toAcme ? 'T123456' : 'T999999' }));
          const wrong = toAcme ? CREDS.bigcorp.slackSigning : CREDS.acme.slackSigning;
          expect(await f.post(toAcme ? ACME_SLACK_URL : BIGCORP_SLACK_URL, body, slackHeaders(wrong, body))).toMatchObject(
            refusal(401, 'invalid-signature', MISMATCH),
          );
        }),
        { numRuns: RUNS },
      ),
    );
  });

  it('a stale request, even correctly signed, is refused; a replay within the window is answered once', async () => {
    const body = JSON.stringify(slackEvent({ text: 'hello', user: 'U0REPLAY' }));
    await nothingPublished(async () => {
      for (const age of [301, 3600, 86_400 * 365]) {
        expect(await f.post(ACME_SLACK_URL, body, slackHeaders(CREDS.acme.slackSigning, body, now() - age))).toMatchObject({
          status: 401,
          body: { error: { code: 'stale-request' } },
        });
      }
      expect(await f.post(ACME_SLACK_URL, body, slackHeaders(CREDS.acme.slackSigning, body, now() + 400))).toMatchObject({
        status: 401,
        body: { error: { code: 'stale-request' } },
      });
    });
    const headers = slackHeaders(CREDS.acme.slackSigning, body);
    const before = published;
    const answers = await Promise.all([1, 2, 3, 4].map(() => f.post(ACME_SLACK_URL, body, headers)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(3);
    expect(published - before).toBe(1);
  });

  it("a signed event from another Slack workspace than the channel's is refused", async () => {
    const body = JSON.stringify(slackEvent({ text: 'hi', team: 'T000BAD' }));
    await nothingPublished(async () => {
      expect(await f.post(ACME_SLACK_URL, body, slackHeaders(CREDS.acme.slackSigning, body))).toMatchObject(
        refusal(403, 'foreign-workspace', "the event is from Slack workspace T000BAD, not this channel's T123456"),
      );
    });
  });

  it('an oversized body is refused before anything is read into memory past the limit', async () => {
    const big = Buffer.alloc(256 * 1024 + 1, 0x20);
    await nothingPublished(async () => {
      expect(await f.post(ACME_SLACK_URL, big, { 'content-type': 'application/json', ...slackHeaders(CREDS.acme.slackSigning, big.toString()) })).toMatchObject(
        refusal(413, 'body-too-large', 'the body is larger than this route accepts'),
      );
    });
  });
});

describe('Telegram webhooks', () => {
  const body = JSON.stringify(telegramUpdate({ text: 'hi' }));

  it('without the secret token header, or with any other value, the update is refused', async () => {
    await nothingPublished(async () => {
      expect(await f.post(ACME_TELEGRAM_URL, body, { 'content-type': 'application/json' })).toMatchObject(
        refusal(401, 'missing-signature', 'the request needs one X-Telegram-Bot-Api-Secret-Token header'),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.stringMatching(/^[A-Za-z0-9_-]{1,256}$/),
            fc.constant(CREDS.acme.telegramSecret.slice(0, -1)),
            fc.constant(`${CREDS.acme.telegramSecret}x`),
            fc.constant(CREDS.bigcorp.telegramSecret),
          ),
          async (token) => {
            fc.pre(token !== CREDS.acme.telegramSecret);
            expect(await f.post(ACME_TELEGRAM_URL, body, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': token })).toMatchObject(
              refusal(401, 'invalid-signature', 'X-Telegram-Bot-Api-Secret-Token does not match the secret_token of this channel'),
            );
          },
        ),
        { numRuns: RUNS },
      );
      // acme's token on bigcorp's channel is another tenant's: refused.
      expect(
        await f.post(BIGCORP_TELEGRAM_URL, body, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': CREDS.acme.telegramSecret }),
      ).toMatchObject({
        status: 401,
        body: { error: { code: 'invalid-signature' } },
      });
    });
  });

  it("an update from another chat than the channel's is answered and ignored", async () => {
    const other = JSON.stringify(telegramUpdate({ text: 'hi', chatId: -100999 }));
    await nothingPublished(async () => {
      expect(
        await f.post(ACME_TELEGRAM_URL, other, { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': CREDS.acme.telegramSecret }),
      ).toMatchObject({
        status: 200,
        body: { ok: true, ignored: 'a message in another chat' },
      });
    });
  });
});

describe('Teams (Bot Framework) webhooks', () => {
  const activity = () => teamsActivity({ text: 'hi', serviceUrl: f.bot.serviceUrl, appId: CREDS.acme.teamsAppId });
  const post = (path: string, a: object, authorization?: string) =>
    f.post(path, JSON.stringify(a), { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) });
  const now = () => Math.floor(Date.now() / 1000);

  it('every kind of bad token is refused with its own message', async () => {
    const a = activity();
    const s = (over: object) => f.bot.sign(a, over);
    const cases: Array<[string, string | undefined, number, string, string]> = [
      ['no header', undefined, 401, 'missing-signature', 'the request needs an Authorization: Bearer <JWT> header'],
      ['not a JWT', 'Bearer not-a-jwt', 401, 'missing-signature', 'the request needs an Authorization: Bearer <JWT> header'],
      ['an unpublished key', await s({ key: f.bot.foreignKey }), 401, 'invalid-token', 'the token is signed with a key Bot Framework does not publish'],
      [
        'an unpublished key under a published kid',
        await s({ key: f.bot.foreignKey, kid: await keyId() }),
        401,
        'invalid-signature',
        'the token signature does not verify',
      ],
      ['another issuer', await s({ issuer: 'https://evil.example' }), 401, 'invalid-token', 'the token\'s "iss" claim is not valid for this bot'],
      [
        "bigcorp's bot as audience",
        await s({ audience: CREDS.bigcorp.teamsAppId }),
        401,
        'invalid-token',
        'the token\'s "aud" claim is not valid for this bot',
      ],
      ['expired 6 minutes ago', await s({ exp: now() - 360 }), 401, 'token-expired', 'the token has expired (more than 5 minutes ago)'],
      ['not valid for 6 more minutes', await s({ nbf: now() + 360 }), 401, 'invalid-token', 'the token\'s "nbf" claim is not valid for this bot'],
      [
        'another serviceUrl claim',
        await s({ serviceUrl: 'https://smba.trafficmanager.net/amer/' }),
        401,
        'invalid-token',
        "the token's serviceUrl claim does not match the activity's serviceUrl",
      ],
    ];
    await nothingPublished(async () => {
      for (const [what, auth, status, code, message] of cases) {
        expect({ what, ...(await post(ACME_TEAMS_URL, a, auth)) }).toMatchObject({ what, ...refusal(status, code, message) });
      }
    });
  });

  it('unsigned and alg-swapped tokens are refused', async () => {
    const a = activity();
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = { iss: f.bot.issuer, aud: CREDS.acme.teamsAppId, exp: now() + 600, serviceUrl: a.serviceUrl };
    await nothingPublished(async () => {
      expect(await post(ACME_TEAMS_URL, a, `Bearer ${b64({ alg: 'none' })}.${b64(claims)}.`)).toMatchObject(
        refusal(401, 'missing-signature', 'the request needs an Authorization: Bearer <JWT> header'),
      );
      expect(await post(ACME_TEAMS_URL, a, `Bearer ${b64({ alg: 'none' })}.${b64(claims)}.x`)).toMatchObject(
        refusal(401, 'invalid-token', 'the token is signed with "none"; Bot Framework tokens are RS256'),
      );
      expect(await post(ACME_TEAMS_URL, a, `Bearer ${b64({ alg: 'HS256', kid: await keyId() })}.${b64(claims)}.abc`)).toMatchObject(
        refusal(401, 'invalid-token', 'the token is signed with "HS256"; Bot Framework tokens are RS256'),
      );
    });
  });

  it('a token within the 5 minutes of skew is accepted', async () => {
    const a = activity();
    expect(await post(ACME_TEAMS_URL, a, await f.bot.sign(a, { exp: now() - 120 }))).toMatchObject({ status: 200, body: { ok: true } });
  });

  it("a serviceUrl off the operator's allow-list is refused even when the token names it", async () => {
    await nothingPublished(() =>
      fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'https://evil.example/',
            `${f.bot.url}.evil.example/`,
            `http://user@${f.bot.url.slice(7)}/`,
            'http://169.254.169.254/latest/',
            `${f.bot.url.replace('127.0.0.1', 'localhost')}/`,
          ),
          async (serviceUrl) => {
            const a = { ...activity(), serviceUrl };
            expect(await post(ACME_TEAMS_URL, a, await f.bot.sign(a))).toMatchObject(
              refusal(403, 'service-url-not-allowed', "the activity's serviceUrl is not one the operator allows (providers.teams.service_urls)"),
            );
          },
        ),
        { numRuns: 10 },
      ),
    );
  });

  it("a token for bigcorp's bot is refused on acme's channel and the reverse", async () => {
    const a = activity();
    await nothingPublished(async () => {
      expect(await post(BIGCORP_TEAMS_URL, a, await f.bot.sign(a))).toMatchObject(
        refusal(401, 'invalid-token', 'the token\'s "aud" claim is not valid for this bot'),
      );
      expect(await post(ACME_TEAMS_URL, a, await f.bot.sign(a, { audience: CREDS.bigcorp.teamsAppId }))).toMatchObject({ status: 401 });
    });
  });
});

describe('every door', () => {
  it('ids in the URL are checked, unknown providers and channels are not found, and nothing leaks a credential', async () => {
    expect(await f.post('/ingress/slack/ACME/prod/support/slack', '{}')).toMatchObject(
      refusal(400, 'invalid-id', 'invalid tenant id "ACME" in URL path: it has upper-case letters; ids are lower case (^[a-z0-9][a-z0-9_-]{0,62}$)'),
    );
    expect(await f.post('/ingress/slack/acme/prod/support/telegram', '{}')).toMatchObject(
      refusal(404, 'unknown-channel', 'no slack channel at /ingress/slack/acme/prod/support/telegram'),
    );
    expect(await f.post('/ingress/slack/constructor/prod/support/slack', '{}')).toMatchObject({ status: 404, body: { error: { code: 'unknown-channel' } } });
    expect(await f.post('/ingress/webchat/bigcorp/prod/helpdesk/webchat', '{}')).toMatchObject(
      refusal(404, 'unknown-provider', 'webhooks are served for slack, telegram, teams only'),
    );
    expect(await f.post('/ingress/__proto__/acme/prod/support/slack', '{}')).toMatchObject({ status: 404, body: { error: { code: 'unknown-provider' } } });
    expect(f.t.logs.text()).not.toContain(CREDS.acme.slackSigning);
    expect(f.t.logs.text()).not.toContain(CREDS.acme.telegramSecret);
  });

  it('a channel whose credential is not set says only that it is not ready; the log says which secret, however many forgeries came before', async () => {
    // Forgeries past the refusal log's burst: they are refused (and mostly not logged), and must not silence the refusal below.
    const forged = JSON.stringify(slackEvent({ text: 'forged', team: 'T999999' }));
    for (let i = 0; i < 40; i++) {
      expect((await f.post(BIGCORP_SLACK_URL, forged, slackHeaders('not-the-signing-secret', forged))).status).toBe(401);
    }
    await f.t.host.secrets.delete({ kind: 'team', tenant: 'bigcorp', team: 'helpdesk' }, 'slack_signing_secret');
    f.t.host.channels.providers.credentials.forget({ tenant: 'bigcorp', env: 'prod', team: 'helpdesk', channel: 'slack' }, 'slack_signing_secret');
    const body = JSON.stringify(slackEvent({ text: 'hi', team: 'T999999' }));
    expect(await f.post(BIGCORP_SLACK_URL, body, slackHeaders(CREDS.bigcorp.slackSigning, body))).toMatchObject(
      refusal(503, 'channel-not-ready', 'this channel cannot take webhooks right now (see the host log)'),
    );
    expect(f.t.logs.lines.filter((l) => l.event === 'webhook-refused' && l.tenant_id === 'bigcorp').at(-1)).toMatchObject({
      code: 'channel-not-ready',
      reason:
        'secret "slack_signing_secret" is not set in bigcorp/teams/helpdesk/ or bigcorp/ (greentic-host secrets set --tenant bigcorp [--team helpdesk] slack_signing_secret)',
    });
  });
});

/** The kid of the key the fake Bot Framework publishes. */
async function keyId(): Promise<string> {
  const jwks = (await (await fetch(`${f.bot.url}/jwks`)).json()) as { keys: Array<{ kid: string }> };
  return jwks.keys[0]!.kid;
}
