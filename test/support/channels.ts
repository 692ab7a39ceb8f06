import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import type { HostOptions } from '../../dist/host.js';
import { resolveEndpoints } from '../../dist/messaging/providers/endpoints.js';
import { copyExamples, replaceExactly, writeFiles } from './bundle.js';
// @ts-ignore plain JS shared with the demo script
import { startFakeBotFramework, startFakeSlack, startFakeTelegram } from './fake-providers.mjs';
import { startHost, type TestHost } from './host.js';

/** acme's and bigcorp's channel credentials in the fixture (bigcorp gets a Slack channel of its own). */
export const CREDS = {
  acme: {
    slackSigning: 'acme-slack-signing-secret-0123456789',
    slackBot: 'xoxb-acme-0123456789-abcdefABCDEF',
    telegramSecret: 'acme_telegram_secret_token_42',
    telegramBot: '123456789:AAacmeTelegramBotTokenXYZ0123456789',
    teamsAppId: '11111111-2222-3333-4444-555555555555',
    teamsPassword: 'acme-bot-password-0123456789',
  },
  bigcorp: {
    slackSigning: 'bigcorp-slack-signing-secret-98765',
    slackBot: 'xoxb-bigcorp-9876543210-zyxwvuZYXWVU',
    telegramSecret: 'bigcorp_telegram_secret_token_77',
    teamsAppId: '99999999-8888-7777-6666-555555555555',
  },
  /** A tenant a test adds while the host runs (not in the bundle at start). */
  globex: {
    slackSigning: 'globex-slack-signing-secret-55555',
    slackBot: 'xoxb-globex-5555555555-globexGLOBEX',
  },
};

export const ACME_SLACK_URL = '/ingress/slack/acme/prod/support/slack';
export const ACME_TELEGRAM_URL = '/ingress/telegram/acme/prod/support/telegram';
export const ACME_TEAMS_URL = '/ingress/teams/acme/prod/sales/teams';
export const BIGCORP_SLACK_URL = '/ingress/slack/bigcorp/prod/helpdesk/slack';
export const BIGCORP_TELEGRAM_URL = '/ingress/telegram/bigcorp/prod/helpdesk/telegram';
export const BIGCORP_TEAMS_URL = '/ingress/teams/bigcorp/prod/helpdesk/teams';

export interface ChannelFixture {
  readonly t: TestHost;
  readonly app: FastifyInstance;
  readonly base: string;
  /** The bundle folder served (a second instance may serve the same one). */
  readonly bundleDir: string;
  readonly slack: Awaited<ReturnType<typeof startFakeSlack>>;
  readonly telegram: Awaited<ReturnType<typeof startFakeTelegram>>;
  readonly bot: Awaited<ReturnType<typeof startFakeBotFramework>>;
  /** POST raw `body` to `path` with `headers`. */
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** Extra settings for the fixture: files written over the example bundle, host options (NATS), egress settings. */
export interface ChannelFixtureOptions {
  readonly files?: Record<string, string | object>;
  readonly host?: Partial<HostOptions>;
  /** settings.egress of acme (tenant level). */
  readonly acmeEgress?: Record<string, number>;
  /** Keep the fakes of an earlier fixture (a restart). */
  readonly fakes?: Pick<ChannelFixture, 'slack' | 'telegram' | 'bot'>;
  /** Reuse this bundle and data folder (a restart). */
  readonly bundleDir?: string;
  readonly dataDir?: string;
}

/**
 * The example bundle served over HTTP with its acme Slack, Telegram and Teams channels pointed
 * at local fakes, their secrets set, and a Slack channel for bigcorp with a secret of its own.
 */
export async function startChannels(opts: ChannelFixtureOptions = {}): Promise<ChannelFixture> {
  const bundle = opts.bundleDir ? { dir: opts.bundleDir, cleanup: () => {} } : copyExamples();
  if (!opts.bundleDir) {
    const fs = await import('node:fs');
    const bundleYaml = fs.readFileSync(`${bundle.dir}/bundle.yaml`, 'utf8');
    const tenantYaml = fs.readFileSync(`${bundle.dir}/tenants/acme/tenant.yaml`, 'utf8');
    writeFiles(bundle.dir, {
      'bundle.yaml': replaceExactly(
        bundleYaml,
        '              title: "BigCorp Helpdesk"\n',
        '              title: "BigCorp Helpdesk"\n' +
          '          slack: { provider: slack, flow: bigcorp_helpdesk_flow, config: { workspace_id: T999999 } }\n' +
          '          telegram: { provider: telegram, flow: bigcorp_helpdesk_flow }\n' +
          '          teams: { provider: teams, flow: bigcorp_helpdesk_flow }\n',
      ),
      ...(opts.acmeEgress
        ? {
            'tenants/acme/tenant.yaml': replaceExactly(
              tenantYaml,
              '    concurrency: 2\n',
              `    concurrency: 2\n    egress: ${JSON.stringify(opts.acmeEgress)}\n`,
            ),
          }
        : {}),
      ...opts.files,
    });
  }
  const slack =
    opts.fakes?.slack ??
    (await startFakeSlack({ botToken: [CREDS.acme.slackBot, CREDS.bigcorp.slackBot, CREDS.globex.slackBot], channels: ['C789012', 'C999999', 'C555555'] }));
  const telegram = opts.fakes?.telegram ?? (await startFakeTelegram({ botToken: CREDS.acme.telegramBot }));
  const bot = opts.fakes?.bot ?? (await startFakeBotFramework({ appId: CREDS.acme.teamsAppId, appPassword: CREDS.acme.teamsPassword }));
  const endpoints = resolveEndpoints({
    slack: { api_base_url: slack.apiBaseUrl },
    telegram: { api_base_url: telegram.apiBaseUrl },
    teams: { openid_metadata_url: bot.openidMetadataUrl, token_url: bot.tokenUrl, service_urls: [bot.serviceUrl] },
  });
  const t = await startHost({
    bundleDir: bundle.dir,
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    channels: { endpoints, teamsKeyCooldownMs: 0 },
    ...opts.host,
  });
  if (t.host.problems.length > 0) throw new Error(JSON.stringify(t.host.problems));
  const support = { kind: 'team', tenant: 'acme', team: 'support' } as const;
  await t.host.secrets.set(support, 'slack_signing_secret', CREDS.acme.slackSigning);
  await t.host.secrets.set(support, 'slack_bot_token', CREDS.acme.slackBot);
  await t.host.secrets.set(support, 'telegram_secret_token', CREDS.acme.telegramSecret);
  await t.host.secrets.set(support, 'telegram_bot_token', CREDS.acme.telegramBot);
  // The bot's credentials at tenant level: a team namespace falls back to its tenant's.
  await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'teams_app_id', CREDS.acme.teamsAppId);
  await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'teams_app_password', CREDS.acme.teamsPassword);
  await t.host.secrets.set({ kind: 'team', tenant: 'bigcorp', team: 'helpdesk' }, 'slack_signing_secret', CREDS.bigcorp.slackSigning);
  await t.host.secrets.set({ kind: 'team', tenant: 'bigcorp', team: 'helpdesk' }, 'slack_bot_token', CREDS.bigcorp.slackBot);
  await t.host.secrets.set({ kind: 'tenant', tenant: 'bigcorp' }, 'telegram_secret_token', CREDS.bigcorp.telegramSecret);
  await t.host.secrets.set({ kind: 'tenant', tenant: 'bigcorp' }, 'teams_app_id', CREDS.bigcorp.teamsAppId);
  const app = await createHttpServer(t.host, { replyTimeoutMs: 20_000 });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    t,
    app,
    base,
    bundleDir: bundle.dir,
    slack,
    telegram,
    bot,
    post: async (path, body, headers = {}) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers };
    },
    close: async () => {
      await app.close();
      await t.close();
      if (!opts.fakes) await Promise.all([slack.close(), telegram.close(), bot.close()]);
      if (!opts.bundleDir) bundle.cleanup();
    },
  };
}

/** Wait until `check` returns a value other than undefined/false (polling every 20 ms), or fail after `ms`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000, what = 'the condition'): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
