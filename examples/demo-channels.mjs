// npm run demo:channels: the example bundle's acme Slack, Telegram and Teams channels end to end.
// Starts local fakes of Slack, Telegram and Bot Framework, sets acme's channel secrets with
// `greentic-host secrets set`, runs `greentic-host serve` pointed at the fakes, sends each
// channel a webhook signed as its provider signs it, and prints what each fake received.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  slackEvent,
  slackHeaders,
  startFakeBotFramework,
  startFakeSlack,
  startFakeTelegram,
  teamsActivity,
  telegramUpdate,
} from '../test/support/fake-providers.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'greentic-host.mjs');
const S = {
  slackSigning: 'demo-slack-signing-secret-0123456789',
  slackBot: 'xoxb-demo-0123456789-abcdefABCDEF',
  telegramSecret: 'demo_telegram_secret_token_42',
  telegramBot: '123456789:AAdemoTelegramBotTokenXYZ0123456789',
  teamsAppId: '11111111-2222-3333-4444-555555555555',
  teamsPassword: 'demo-bot-password-0123456789',
};

const data = mkdtempSync(join(tmpdir(), 'greentic-demo-channels-'));
const env = { ...process.env, GREENTIC_LOG_LEVEL: process.env.GREENTIC_LOG_LEVEL ?? 'warn' };
const slack = await startFakeSlack({ botToken: S.slackBot });
const telegram = await startFakeTelegram({ botToken: S.telegramBot });
const bot = await startFakeBotFramework({ appId: S.teamsAppId, appPassword: S.teamsPassword });
let serve;
try {
  console.log(`fakes: Slack ${slack.apiBaseUrl}, Telegram ${telegram.apiBaseUrl}, Bot Framework ${bot.url}`);
  const secrets = [
    ['--team', 'support', 'slack_signing_secret', S.slackSigning],
    ['--team', 'support', 'slack_bot_token', S.slackBot],
    ['--team', 'support', 'telegram_secret_token', S.telegramSecret],
    ['--team', 'support', 'telegram_bot_token', S.telegramBot],
    ['--team', 'sales', 'teams_app_id', S.teamsAppId],
    ['--team', 'sales', 'teams_app_password', S.teamsPassword],
  ];
  for (const [flag, team, name, value] of secrets) await cli(['secrets', 'set', '--data', data, '--tenant', 'acme', flag, team, name], value);
  console.log(`secrets: ${secrets.map((s) => `acme/teams/${s[1]}/${s[2]}`).join(', ')}`);

  const config = join(data, 'serve.yaml');
  writeFileSync(
    config,
    [
      'providers:',
      `  slack: { api_base_url: "${slack.apiBaseUrl}" }`,
      `  telegram: { api_base_url: "${telegram.apiBaseUrl}" }`,
      `  teams: { openid_metadata_url: "${bot.openidMetadataUrl}", token_url: "${bot.tokenUrl}", service_urls: ["${bot.serviceUrl}"] }`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  serve = spawn(
    process.execPath,
    [CLI, 'serve', '--bundle', join(ROOT, 'examples'), '--data', data, '--port', String(port), '--workers', '1', '--config', config],
    {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const base = await ready(serve, `http://127.0.0.1:${port}`);

  const post = async (path, body, headers) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return `${res.status} ${await res.text()}`;
  };
  const slackPath = '/ingress/slack/acme/prod/support/slack';
  const handshake = JSON.stringify({ token: 'unused', challenge: 'demo-challenge', type: 'url_verification' });
  console.log(`\nSlack url_verification -> ${await post(slackPath, handshake, slackHeaders(S.slackSigning, handshake))}`);
  const message = JSON.stringify(slackEvent({ text: 'hello', user: 'U0DEMO1' }));
  console.log(`Slack message "hello" -> ${await post(slackPath, message, slackHeaders(S.slackSigning, message))}`);
  console.log(`Slack message signed with another secret -> ${await post(slackPath, message, slackHeaders('not-the-signing-secret', message))}`);
  const update = JSON.stringify(telegramUpdate({ text: 'hello', userId: 7001 }));
  console.log(
    `Telegram update "hello" -> ${await post('/ingress/telegram/acme/prod/support/telegram', update, { 'x-telegram-bot-api-secret-token': S.telegramSecret })}`,
  );
  const activity = teamsActivity({ text: 'hello', serviceUrl: bot.serviceUrl, appId: S.teamsAppId });
  console.log(
    `Teams activity "hello" -> ${await post('/ingress/teams/acme/prod/sales/teams', JSON.stringify(activity), { authorization: await bot.sign(activity) })}`,
  );

  await until(() => slack.delivered.length > 0 && telegram.delivered.length > 0 && bot.delivered.length > 0, 60_000);
  console.log('\nSlack received (POST /chat.postMessage, Authorization: Bearer xoxb-...):');
  for (const d of slack.delivered) console.log(`  ${JSON.stringify({ channel: d.channel, text: d.text })}`);
  console.log('Telegram received (POST /bot<token>/sendMessage):');
  for (const d of telegram.delivered) console.log(`  ${JSON.stringify(d)}`);
  console.log('Bot Framework received (POST /v3/conversations/{id}/activities/{replyToId}, with a client-credentials token):');
  for (const d of bot.delivered) console.log(`  ${JSON.stringify({ conversation: d.conversation, replyToId: d.replyToId, text: d.text })}`);
} finally {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
  await Promise.all([slack.close(), telegram.close(), bot.close()]);
  rmSync(data, { recursive: true, force: true });
}

function cli(args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'ignore', 'inherit'] });
    child.stdin.end(input);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`greentic-host ${args.slice(0, 2).join(' ')} exited ${code}`))));
  });
}

/** Wait for serve's ready line (printing its webhook lines); its base URL. */
function ready(child, base) {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      for (;;) {
        const nl = out.indexOf('\n');
        if (nl < 0) break;
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (/^\s+webhook: /.test(line)) console.log(line);
        if (line.startsWith('greentic-host ready:')) resolve(base);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code} before it was ready`)));
  });
}

async function until(check, ms) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`the fakes did not receive every reply within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
