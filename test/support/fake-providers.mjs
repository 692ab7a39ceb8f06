// Local fakes of Slack's Web API, Telegram's Bot API and Bot Framework (OpenID metadata, JWKS,
// token endpoint, connector), speaking their wire formats and checking their auth, plus the
// signing each provider applies to its webhooks. Used by the tests and by `npm run demo:channels`.
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { exportJWK, SignJWT } from 'jose';
import { startFakeServer } from './fake-http.mjs';

const ok = (body) => ({ status: 200, body });

/**
 * Slack's Web API: POST /chat.postMessage with `Authorization: Bearer <bot token>` and a JSON
 * body {channel, text, thread_ts?}; answers as Slack does (HTTP 200, {ok: false, error} for a
 * bad token or channel). `delivered` lists the messages it took.
 */
export async function startFakeSlack({ botToken, channels = ['C789012'] }) {
  const tokens = Array.isArray(botToken) ? botToken : [botToken];
  const delivered = [];
  const fake = await startFakeServer((r) => {
    if (r.method !== 'POST' || r.path !== '/chat.postMessage') return { status: 404, body: { ok: false, error: 'unknown_method' } };
    const token = /^Bearer (.+)$/.exec(String(r.headers.authorization))?.[1];
    if (!token || !tokens.includes(token)) return ok({ ok: false, error: 'invalid_auth' });
    if (!String(r.headers['content-type']).startsWith('application/json')) return ok({ ok: false, error: 'invalid_form_data' });
    const m = r.json;
    if (typeof m?.channel !== 'string' || typeof m.text !== 'string') return ok({ ok: false, error: 'invalid_arguments' });
    if (!channels.includes(m.channel)) return ok({ ok: false, error: 'channel_not_found' });
    const ts = `${Math.floor(Date.now() / 1000)}.${String(delivered.length).padStart(6, '0')}`;
    delivered.push({ channel: m.channel, text: m.text, thread_ts: m.thread_ts, ts, token });
    return ok({ ok: true, channel: m.channel, ts });
  });
  return { ...fake, delivered, apiBaseUrl: fake.url };
}

/**
 * Telegram's Bot API: POST /bot<token>/sendMessage with a JSON body {chat_id, text,
 * reply_parameters?}; a wrong token is 401 {ok: false, error_code: 401}, as Telegram answers.
 */
export async function startFakeTelegram({ botToken }) {
  const delivered = [];
  const fake = await startFakeServer((r) => {
    const m = /^\/bot([^/]+)\/sendMessage$/.exec(r.path);
    if (r.method !== 'POST' || !m) return { status: 404, body: { ok: false, error_code: 404, description: 'Not Found' } };
    if (m[1] !== botToken) return { status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } };
    const b = r.json;
    if (b?.chat_id === undefined || typeof b.text !== 'string')
      return { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: message text is empty' } };
    if (b.text.length > 4096) return { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: message is too long' } };
    delivered.push({ chat_id: String(b.chat_id), text: b.text, reply_to: b.reply_parameters?.message_id });
    return ok({ ok: true, result: { message_id: 1000 + delivered.length, chat: { id: Number(b.chat_id) }, text: b.text } });
  });
  return { ...fake, delivered, apiBaseUrl: fake.url };
}

/**
 * Bot Framework: the OpenID metadata (GET /openid) naming its JWKS (GET /jwks), the token
 * endpoint (POST /token, client credentials for the bot's app id and password), and the
 * connector (POST /v3/conversations/{id}/activities/{replyToId} with the token it issued).
 * `sign(activity)` makes the JWT Bot Framework would send with an activity; `rotate()` replaces
 * the signing key.
 */
export async function startFakeBotFramework({ appId, appPassword, channelId = 'msteams' }) {
  const issuer = 'https://api.botframework.com';
  const issued = new Set();
  const delivered = [];
  let keys = [newKey()];
  const fake = await startFakeServer(async (r) => {
    if (r.method === 'GET' && r.path === '/openid') return ok({ issuer, jwks_uri: `${fake.url}/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    if (r.method === 'GET' && r.path === '/jwks')
      return ok({ keys: await Promise.all(keys.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, use: 'sig', endorsements: [channelId] }))) });
    if (r.method === 'POST' && r.path === '/token') {
      const form = new URLSearchParams(r.body);
      if (form.get('grant_type') !== 'client_credentials' || form.get('scope') !== 'https://api.botframework.com/.default')
        return { status: 400, body: { error: 'invalid_request' } };
      if (form.get('client_id') !== appId || form.get('client_secret') !== appPassword) return { status: 401, body: { error: 'invalid_client' } };
      const token = `bf-${randomUUID()}`;
      issued.add(token);
      return ok({ token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: token });
    }
    const m = /^\/v3\/conversations\/([^/]+)\/activities\/([^/]+)$/.exec(r.path);
    if (r.method === 'POST' && m) {
      const token = /^Bearer (.+)$/.exec(String(r.headers.authorization))?.[1];
      if (!token || !issued.has(token)) return { status: 401, body: { error: { code: 'Unauthorized', message: 'token not issued here' } } };
      const a = r.json;
      if (a?.type !== 'message' || typeof a.text !== 'string' || a.replyToId !== decodeURIComponent(m[2]))
        return { status: 400, body: { error: { code: 'BadArgument' } } };
      delivered.push({ conversation: decodeURIComponent(m[1]), replyToId: decodeURIComponent(m[2]), text: a.text, from: a.from, recipient: a.recipient });
      return ok({ id: `reply-${delivered.length}` });
    }
    return { status: 404, body: { error: 'not found' } };
  });
  return {
    ...fake,
    delivered,
    issuer,
    serviceUrl: `${fake.url}/`,
    openidMetadataUrl: `${fake.url}/openid`,
    tokenUrl: `${fake.url}/token`,
    /** The Authorization header Bot Framework sends with `activity` (claims adjustable for the tests' forgeries). */
    async sign(activity, over = {}) {
      const key = over.key ?? keys[0];
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new SignJWT({ serviceUrl: over.serviceUrl ?? activity.serviceUrl, ...over.claims })
        .setProtectedHeader({ alg: 'RS256', kid: over.kid ?? key.kid, typ: 'JWT' })
        .setIssuer(over.issuer ?? issuer)
        .setAudience(over.audience ?? appId)
        .setIssuedAt(over.iat ?? now)
        .setNotBefore(over.nbf ?? now - 60)
        .setExpirationTime(over.exp ?? now + 3600)
        .sign(key.privateKey);
      return `Bearer ${jwt}`;
    },
    /** A key Bot Framework does not publish (a forger's). */
    foreignKey: newKey(),
    rotate() {
      keys = [newKey()];
    },
  };
}

function newKey() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { publicKey, privateKey, kid: `k${randomUUID().slice(0, 8)}` };
}

/** Slack's headers for `body` signed with `secret` at `ts` (seconds): v0 HMAC-SHA256 of "v0:ts:body". */
export function slackHeaders(secret, body, ts = Math.floor(Date.now() / 1000)) {
  const sig = createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');
  return { 'content-type': 'application/json', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${sig}` };
}

/** A Slack Events API message event as Slack sends it. */
export function slackEvent({
  text,
  user = 'U0123ABC',
  channel = 'C789012',
  team = 'T123456',
  eventId = `Ev${randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase()}`,
  ts,
  thread_ts,
} = {}) {
  return {
    token: 'verification-token-unused',
    team_id: team,
    api_app_id: 'A0APP',
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: 'message',
      channel,
      user,
      text,
      ts: ts ?? `${Math.floor(Date.now() / 1000)}.${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`,
      ...(thread_ts ? { thread_ts } : {}),
      channel_type: 'channel',
    },
  };
}

/** A Telegram Update carrying a text message, as Telegram POSTs it to the webhook. */
export function telegramUpdate({
  text,
  chatId = -1001234567890,
  userId = 42,
  updateId = Math.floor(Math.random() * 1e9),
  messageId = Math.floor(Math.random() * 1e6),
} = {}) {
  return {
    update_id: updateId,
    message: {
      message_id: messageId,
      from: { id: userId, is_bot: false, first_name: 'Ann', username: 'ann' },
      chat: { id: chatId, type: 'supergroup', title: 'Support' },
      date: Math.floor(Date.now() / 1000),
      text,
    },
  };
}

/** A Bot Framework message activity from Teams, sent to the bot `appId` from `serviceUrl`. */
export function teamsActivity({
  text,
  serviceUrl,
  appId,
  id = `act-${randomUUID().slice(0, 8)}`,
  conversation = 'a:1conversation-xyz',
  user = '29:1user-abc',
}) {
  return {
    type: 'message',
    id,
    timestamp: new Date().toISOString(),
    serviceUrl,
    channelId: 'msteams',
    from: { id: user, name: 'Ann', aadObjectId: '00000000-0000-0000-0000-000000000001' },
    conversation: { id: conversation, conversationType: 'personal', tenantId: '00000000-0000-0000-0000-0000000000aa' },
    recipient: { id: `28:${appId}`, name: 'ACME Sales' },
    text,
    textFormat: 'plain',
    locale: 'en-US',
  };
}
