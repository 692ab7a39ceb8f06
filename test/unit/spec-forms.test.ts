import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ComponentCatalog } from '../../dist/components/catalog.js';
import { loadTenantFlows } from '../../dist/flow/loader.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR } from '../../dist/paths.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { canonicalLanguage, canonicalTimezone } from '../../dist/tenancy/config/locale.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { tempDir, writeFiles } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** A fresh bundle of just `files`. */
async function load(files: Record<string, string | object>) {
  const b = tempDir('greentic-forms-');
  cleanups.push(b.cleanup);
  mkdirSync(join(b.dir, 'tenants'));
  writeFiles(b.dir, files);
  const ws = await loadWorkspace(b.dir);
  return { ws, dir: b.dir, messages: ws.problems.map(formatProblem).map((m) => m.replaceAll(`${b.dir}/`, '')) };
}

const flow = (name: string, message = 'hi') => ({ name, version: '1.0', nodes: [{ id: 'greet', type: 'reply', config: { message } }] });

describe('the tenant form', () => {
  it("takes the spec's record and list of environments", async () => {
    const { ws, messages } = await load({
      'tenants/acme/tenant.yaml':
        'tenant:\n  id: acme\n  name: "ACME"\n  settings:\n    timezone: "america/new_york"\n    language: "en-us"\n    concurrency: 3\n' +
        'environments:\n  - id: prod\n    name: "Production"\n  - id: staging\n    settings: { language: fr-CA }\n',
    });
    expect(messages).toEqual([]);
    const acme = ws.tenants.get('acme')!;
    expect(acme.name).toBe('ACME');
    // Kept in canonical spelling; an environment's settings layer over the tenant's.
    expect(acme.settings).toMatchObject({ timezone: 'America/New_York', language: 'en-US', concurrency: 3 });
    expect(acme.envs.get('prod')).toMatchObject({ name: 'Production', settings: { language: 'en-US' } });
    expect(acme.envs.get('staging')).toMatchObject({ name: 'staging', settings: { language: 'fr-CA', timezone: 'America/New_York' } });
  });

  it('refuses an environment listed twice, a bad zone, a bad language, and settings given twice differently', async () => {
    const { messages } = await load({
      'tenants/acme/tenant.yaml': {
        tenant: { id: 'acme', settings: { timezone: '+01:00', language: 'en_US_x!' } },
        environments: [{ id: 'prod' }, { id: 'prod', name: 'again' }],
      },
      'tenants/beta/tenant.yaml': { tenant: { id: 'beta', name: 'B', settings: { concurrency: 2 } }, name: 'Beta', settings: { concurrency: 2 } },
    });
    expect(messages).toEqual([
      'tenants/acme/tenant.yaml: tenant.settings.timezone: "+01:00" is not an IANA time zone (such as "America/New_York" or "UTC")',
      'tenants/acme/tenant.yaml: tenant.settings.language: "en_US_x!" is not a BCP 47 language tag (such as "en-US" or "de")',
      'tenants/acme/tenant.yaml: environments[1].id: environment "prod" is listed twice',
      // The same settings twice are fine; two names are not.
      'tenants/beta/tenant.yaml: name: "Beta" here, but "B" in tenants/beta/tenant.yaml at tenant.name; give it once, or the same in both',
    ]);
  });

  it('a tenant that names no environments has prod; one that names none at all is refused', async () => {
    const { ws, messages } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme' },
      'tenants/empty/tenant.yaml': { tenant: 'empty', environments: [] },
    });
    expect([...ws.tenants.get('acme')!.envs.keys()]).toEqual(['prod']);
    expect(messages).toEqual(['tenants/empty/tenant.yaml: environments: a tenant needs at least one environment']);
  });
});

describe('the team form', () => {
  it("takes the spec's record, checked against its folder and file", async () => {
    const { ws, messages } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme' },
      'tenants/acme/teams/support.yaml': { team: { id: 'support', name: 'Customer Support', tenant_id: 'acme' }, channels: {} },
      'tenants/acme/teams/sales.yaml': { team: { id: 'sales', tenant_id: 'bigcorp' }, channels: {} },
      'tenants/acme/teams/ops.yaml': { team: { id: 'dev' }, channels: {} },
    });
    expect(ws.tenants.has('acme')).toBe(false);
    expect(messages).toEqual([
      'tenants/acme/teams/ops.yaml: team.id: says "dev" but the file is teams/ops.yaml',
      'tenants/acme/teams/sales.yaml: team.tenant_id: says "bigcorp" but the file is in tenants/acme/',
    ]);
  });

  it("checks each channel's config with its provider's schema, under either name of the provider", async () => {
    const { ws, messages } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme' },
      'tenants/acme/flows/acme_support_flow.yaml': flow('acme_support_flow'),
      'tenants/acme/teams/support.yaml':
        'team: { id: support }\nchannels:\n' +
        '  slack: { provider: messaging-slack, config: { workspace_id: "T123456", channel_id: "C789012" } }\n' +
        '  tg: { provider: telegram, config: { chat_id: -1001234567890 } }\n' +
        '  teams: { provider: messaging-teams, config: { app_id: "acme_teams_app_id", channel_id: "19:abc@thread.tacv2" } }\n' +
        '  web: { provider: messaging-webchat, config: { title: "Help" } }\n',
    });
    expect(messages).toEqual([]);
    const channels = ws.tenants.get('acme')!.teams.get('support')!.channels;
    expect([...channels.values()].map((c) => [c.id, c.provider])).toEqual([
      ['slack', 'slack'],
      ['tg', 'telegram'],
      ['teams', 'teams'],
      ['web', 'webchat'],
    ]);
    // A YAML number is taken as its digits: Telegram ids exceed 32 bits.
    expect(channels.get('tg')!.config).toEqual({ chat_id: '-1001234567890' });
    expect(channels.get('web')!.title).toBe('Help');
  });

  it('refuses a config its provider does not accept, naming the key', async () => {
    const { messages } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme' },
      'tenants/acme/teams/support.yaml': {
        team: 'support',
        channels: {
          a: { provider: 'messaging-slack', config: { workspace_id: 't1', channel: 'C1' } },
          b: { provider: 'messaging-telegram', config: { chat_id: 'chat' } },
          c: { provider: 'messaging-teams', config: { app_id: 'x y' } },
          d: { provider: 'messaging-slack', title: 'Help' },
          e: { provider: 'webchat', title: 'Help', config: { title: 'Help' } },
          f: { provider: 'messaging-fax' },
        },
      },
    });
    expect(messages).toEqual([
      'tenants/acme/teams/support.yaml: channels.a.config.workspace_id: expected a Slack workspace id like "T123456" (upper-case letters and digits)',
      'tenants/acme/teams/support.yaml: channels.a.config.channel: unknown key',
      'tenants/acme/teams/support.yaml: channels.b.config.chat_id: expected a chat id like "-1001234567890" or "@channelname"',
      'tenants/acme/teams/support.yaml: channels.c.config.app_id: invalid secret name "x y": it contains whitespace; ids match ^[a-z0-9][a-z0-9_-]{0,62}$',
      'tenants/acme/teams/support.yaml: channels.d.title: only a webchat channel has a title (this one is messaging-slack)',
      'tenants/acme/teams/support.yaml: channels.e.title: the title is given twice (title and config.title); give it once',
      'tenants/acme/teams/support.yaml: channels.f.provider: unknown provider "messaging-fax"; expected one of "messaging-slack"|"slack"|"messaging-telegram"|"telegram"|"messaging-teams"|"teams"|"messaging-webchat"|"webchat"',
    ]);
  });
});

describe('the bundle form', () => {
  it('needs no workspace key (the folder name), nor a bundle.yaml when there is a tenants/ folder', async () => {
    const withFile = await load({ 'bundle.yaml': { tenants: { bigcorp: { name: 'BigCorp', teams: { helpdesk: { channels: {} } } } } } });
    expect(withFile.messages).toEqual([]);
    expect(withFile.ws.name).toBe(basename(withFile.dir));
    expect(withFile.ws.tenants.get('bigcorp')!.teams.get('helpdesk')!.name).toBe('helpdesk');
    const without = await load({ 'tenants/acme/tenant.yaml': { tenant: 'acme' } });
    expect(without.messages).toEqual([]);
    expect([...without.ws.tenants.keys()]).toEqual(['acme']);
    const empty = tempDir('greentic-forms-');
    cleanups.push(empty.cleanup);
    await expect(loadWorkspace(empty.dir)).rejects.toThrowError(`${empty.dir}: not a bundle: it has neither bundle.yaml nor a tenants/ folder`);
  });

  it('merges what bundle.yaml, tenant.yaml and the team files say of one tenant, and names both places of a disagreement', async () => {
    const { ws, messages } = await load({
      'bundle.yaml': {
        tenants: {
          acme: {
            name: 'ACME',
            teams: { support: { channels: { slack: { provider: 'messaging-slack' } } }, sales: { channels: { teams: { provider: 'teams' } } } },
          },
          beta: { teams: { ops: { channels: { slack: { provider: 'slack' } } } } },
        },
      },
      'tenants/acme/tenant.yaml': { tenant: { id: 'acme', name: 'ACME' }, environments: [{ id: 'prod' }, { id: 'staging' }] },
      'tenants/acme/teams/support.yaml': {
        team: { id: 'support', name: 'Support' },
        channels: { slack: { provider: 'slack', config: { channel_id: 'C12' } } },
      },
      'tenants/beta/teams/ops.yaml': { team: 'ops', channels: { slack: { provider: 'telegram' } } },
    });
    expect(messages).toEqual([
      'tenants/beta/teams/ops.yaml: channels.slack.provider: "telegram" here, but "slack" in bundle.yaml at tenants.beta.teams.ops.channels.slack.provider; give it once, or the same in both',
    ]);
    const acme = ws.tenants.get('acme')!;
    expect([...acme.envs.keys()]).toEqual(['prod', 'staging']);
    expect(acme.teams.get('support')!.name).toBe('Support');
    expect(acme.teams.get('support')!.channels.get('slack')).toMatchObject({ provider: 'slack', config: { channel_id: 'C12' } });
    expect([...acme.teams.keys()].sort()).toEqual(['sales', 'support']);
    // A problem found after the merge names the file that wrote the part it is about.
    const bad = await load({
      'bundle.yaml': { tenants: { acme: { teams: { support: { environments: ['dev'], channels: {} } } } } },
      'tenants/acme/tenant.yaml': { tenant: 'acme', grants: { components: { reply: { teams: ['nobody'] } } } },
    });
    expect(bad.messages).toEqual([
      'bundle.yaml: tenants.acme.teams.support.environments[0]: tenant "acme" has no environment "dev"',
      'tenants/acme/tenant.yaml: grants.components.reply.teams[0]: tenant "acme" has no team "nobody"',
    ]);
  });

  it('a tenant that grants no components may use the built-ins; one that names its grants gets exactly those', async () => {
    const { ws } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme' },
      'tenants/beta/tenant.yaml': { tenant: 'beta', grants: { components: { reply: {} } } },
    });
    expect([...ws.tenants.get('acme')!.grants.components.keys()]).toEqual(['reply', 'ask', 'branch', 'handlebars']);
    expect([...ws.tenants.get('beta')!.grants.components.keys()]).toEqual(['reply']);
  });
});

describe('flows and the flow each channel runs', () => {
  const builtins = { sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR };
  const teamOf = (channels: Record<string, object>) => ({ team: 'support', channels });

  it('a flow without start starts at its first node; channels without flow get {tenant}_{team}_flow, else the only flow', async () => {
    const { ws } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme' },
      'tenants/acme/teams/support.yaml': teamOf({ slack: { provider: 'slack' }, named: { provider: 'slack', flow: 'other_flow' } }),
      'tenants/acme/flows/acme_support_flow.yaml': flow('acme_support_flow'),
      'tenants/acme/flows/other_flow.yaml': flow('other_flow'),
      'tenants/solo/tenant.yaml': { tenant: 'solo' },
      'tenants/solo/teams/support.yaml': teamOf({ web: { provider: 'webchat' } }),
      'tenants/solo/flows/main.yaml': flow('main'),
    });
    const catalog = await ComponentCatalog.load(builtins, ws);
    const acme = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    expect(acme.problems).toEqual([]);
    expect(acme.flows.get('acme_support_flow')!.start).toBe('greet');
    expect(Object.fromEntries(acme.channelFlows)).toEqual({
      'support/slack': { flow: 'acme_support_flow', rule: 'team-flow' },
      'support/named': { flow: 'other_flow', rule: 'named' },
    });
    const solo = await loadTenantFlows(ws.tenants.get('solo')!, catalog);
    expect(Object.fromEntries(solo.channelFlows)).toEqual({ 'support/web': { flow: 'main', rule: 'only-flow' } });
  });

  it('a channel the rule gives no flow is unavailable, and the problem says how to give it one', async () => {
    const { ws } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme' },
      'tenants/acme/teams/support.yaml': teamOf({ slack: { provider: 'slack' } }),
      'tenants/acme/flows/a.yaml': flow('a'),
      'tenants/acme/flows/b.yaml': flow('b'),
      'tenants/none/tenant.yaml': { tenant: 'none' },
      'tenants/none/teams/support.yaml': teamOf({ slack: { provider: 'slack' } }),
    });
    const catalog = await ComponentCatalog.load(builtins, ws);
    const acme = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    const why = 'channel support/slack has no flow: name one with flow:, or add flows/acme_support_flow.yaml (tenant "acme" has 2: a, b)';
    expect(acme.problems.map(formatProblem)).toEqual([
      expect.stringMatching(new RegExp(`tenants/acme/teams/support\\.yaml: channels\\.slack\\.flow: ${why.replace(/[().]/g, '\\$&')}$`)),
    ]);
    expect(acme.unavailable.get('support/slack')).toBe(why);
    const none = await loadTenantFlows(ws.tenants.get('none')!, catalog);
    expect(none.unavailable.get('support/slack')).toBe(
      'channel support/slack has no flow: tenant "none" has no flows (name one with flow:, or add flows/none_support_flow.yaml)',
    );
  });
});

describe('time zones and languages', () => {
  it('accepts IANA zones and BCP 47 tags in canonical spelling, and nothing else', () => {
    expect(canonicalTimezone('UTC')).toBe('UTC');
    expect(canonicalTimezone('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalTimezone('Etc/GMT+5')).toBe('Etc/GMT+5');
    for (const bad of ['', '+01:00', '-0500', 'Mars/Olympus', 'America/New_York\n', 'x'.repeat(65)]) expect(canonicalTimezone(bad)).toBeNull();
    expect(canonicalLanguage('EN-us')).toBe('en-US');
    expect(canonicalLanguage('zh-hant-tw')).toBe('zh-Hant-TW');
    for (const bad of ['', 'en_US', 'english!', '-', 'a'.repeat(65)]) expect(canonicalLanguage(bad)).toBeNull();
  });

  it('never throw and always answer a value that is itself canonical, for any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80, unit: 'binary' }), (s) => {
        const zone = canonicalTimezone(s);
        if (zone !== null) expect(canonicalTimezone(zone)).toBe(zone);
        const tag = canonicalLanguage(s);
        if (tag !== null) expect(canonicalLanguage(tag)).toBe(tag);
      }),
      { numRuns: 2000 },
    );
  });
});
