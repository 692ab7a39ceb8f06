import { afterEach, describe, expect, it } from 'vitest';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { ConfigError, formatProblem } from '../../dist/tenancy/config/problems.js';
import { copyExamples, EXAMPLES, writeFiles } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function bundle(): string {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  return b.dir;
}
const messages = (ws: Awaited<ReturnType<typeof loadWorkspace>>) => ws.problems.map(formatProblem);

describe('loading the example bundle', () => {
  it('loads all three config forms without problems', async () => {
    const ws = await loadWorkspace(EXAMPLES);
    expect(ws.problems).toEqual([]);
    expect(ws.name).toBe('greentic-demo');
    expect([...ws.tenants.keys()].sort()).toEqual(['acme', 'bigcorp']);

    const acme = ws.tenants.get('acme')!; // tenant form + team form
    expect([...acme.envs.keys()]).toEqual(['prod', 'staging']);
    expect([...acme.teams.keys()].sort()).toEqual(['sales', 'support']);
    expect([...acme.teams.get('support')!.channels.keys()]).toEqual(['slack', 'telegram']);
    expect(acme.teams.get('support')!.channels.get('slack')).toMatchObject({
      provider: 'slack',
      flow: undefined,
      config: { workspace_id: 'T123456', channel_id: 'C789012' },
      tenant: 'acme',
      team: 'support',
    });
    expect(acme.settings).toMatchObject({ timezone: 'America/New_York', language: 'en-US' });
    expect([...acme.teams.get('sales')!.channels.keys()]).toEqual(['teams']);
    // Environment settings layer over the tenant's.
    expect(acme.envs.get('prod')!.settings.limits.deadlineMs).toBe(1000);
    expect(acme.envs.get('staging')!.settings.limits.deadlineMs).toBe(2000);

    const bigcorp = ws.tenants.get('bigcorp')!; // bundle form
    expect(bigcorp.file).toMatch(/bundle\.yaml$/);
    expect(bigcorp.path).toBe('tenants.bigcorp');
    expect(bigcorp.teams.get('helpdesk')!.channels.get('webchat')).toMatchObject({ provider: 'webchat', title: 'BigCorp Helpdesk' });
    // No environments named: prod.
    expect([...bigcorp.envs.keys()]).toEqual(['prod']);
  });
});

describe('configuration errors name the file and the path inside it', () => {
  it('an unknown key', async () => {
    const dir = bundle();
    writeFiles(dir, {
      'tenants/acme/teams/support.yaml': { team: 'support', channels: { slack: { provider: 'slack', flow: 'acme_support_flow', colour: 'red' } } },
    });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(expect.stringMatching(/tenants\/acme\/teams\/support\.yaml: channels\.slack\.colour: unknown key$/));
    expect(ws.tenants.has('acme')).toBe(false);
  });

  it('an unknown provider', async () => {
    const dir = bundle();
    writeFiles(dir, { 'tenants/acme/teams/support.yaml': { team: 'support', channels: { slack: { provider: 'smoke-signals', flow: 'acme_support_flow' } } } });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(
      expect.stringMatching(
        /support\.yaml: channels\.slack\.provider: unknown provider "smoke-signals"; expected one of "messaging-slack"\|"slack"\|"messaging-telegram"\|"telegram"\|"messaging-teams"\|"teams"\|"messaging-webchat"\|"webchat"$/,
      ),
    );
  });

  it('an invalid id used as a key', async () => {
    const dir = bundle();
    writeFiles(dir, { 'tenants/acme/teams/support.yaml': { team: 'support', channels: { 'Slack.EU': { provider: 'slack', flow: 'acme_support_flow' } } } });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(expect.stringMatching(/support\.yaml: channels\.Slack\.EU: invalid channel id "Slack\.EU": it has upper-case letters/));
  });

  it('a YAML syntax error, with its line', async () => {
    const dir = bundle();
    writeFiles(dir, { 'tenants/acme/tenant.yaml': 'tenant: acme\nenvironments:\n  prod: {\n' });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)[0]).toMatch(/tenants\/acme\/tenant\.yaml: YAML error at line \d+/);
  });

  it('a duplicate key', async () => {
    const dir = bundle();
    writeFiles(dir, { 'tenants/acme/tenant.yaml': 'tenant: acme\nenvironments:\n  prod: {}\n  prod: {}\n' });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)[0]).toMatch(/tenant\.yaml: YAML error at line 4.*Map keys must be unique/);
  });

  it('a tenant file that names another tenant than its directory', async () => {
    const dir = bundle();
    writeFiles(dir, { 'tenants/acme/tenant.yaml': { tenant: 'bigcorp', environments: { prod: {} } } });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(expect.stringMatching(/tenants\/acme\/tenant\.yaml: tenant: says "bigcorp" but the directory is tenants\/acme\/$/));
  });

  it('a team in an environment its tenant does not have', async () => {
    const dir = bundle();
    writeFiles(dir, {
      'tenants/acme/teams/sales.yaml': { team: 'sales', environments: ['dev'], channels: { teams: { provider: 'teams', flow: 'acme_sales_flow' } } },
    });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(expect.stringMatching(/sales\.yaml: environments\[0\]: tenant "acme" has no environment "dev"$/));
  });

  it('a grant naming a team that does not exist', async () => {
    const dir = bundle();
    writeFiles(dir, {
      'tenants/acme/tenant.yaml': { tenant: 'acme', environments: { prod: {} }, grants: { components: { reply: { teams: ['marketing'] } } } },
    });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(expect.stringMatching(/tenant\.yaml: grants\.components\.reply\.teams\[0\]: tenant "acme" has no team "marketing"$/));
  });

  it('an inline tenant problem is located inside bundle.yaml', async () => {
    const dir = bundle();
    writeFiles(dir, {
      'bundle.yaml': {
        workspace: 'demo',
        tenants: { bigcorp: { environments: { prod: {} }, teams: { helpdesk: { channels: { webchat: { provider: 'webchat', config: { colour: 1 } } } } } } },
      },
    });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(
      expect.stringMatching(/bundle\.yaml: tenants\.bigcorp\.teams\.helpdesk\.channels\.webchat\.config\.colour: unknown key$/),
    );
  });

  it('a tenant defined in bundle.yaml and tenant.yaml that disagree', async () => {
    const dir = bundle();
    writeFiles(dir, { 'bundle.yaml': { workspace: 'demo', tenants: { acme: { name: 'Acme Ltd' } } } });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toEqual([
      expect.stringMatching(
        /tenants\/acme\/tenant\.yaml: tenant\.name: "ACME Corporation" here, but "Acme Ltd" in .*bundle\.yaml at tenants\.acme\.name; give it once, or the same in both$/,
      ),
      // bigcorp was defined in bundle.yaml, which no longer does.
      expect.stringMatching(/tenants\/bigcorp\/tenant\.yaml: tenants\/bigcorp\/ has no tenant\.yaml and bundle\.yaml does not define "bigcorp"$/),
    ]);
  });

  it('one broken tenant does not stop the others', async () => {
    const dir = bundle();
    writeFiles(dir, { 'tenants/acme/tenant.yaml': 'tenant: acme\nenvironments: 7\n' });
    const ws = await loadWorkspace(dir);
    expect(ws.tenants.has('acme')).toBe(false);
    expect(ws.tenants.has('bigcorp')).toBe(true);
    expect(ws.problems.every((p) => p.tenant === 'acme')).toBe(true);
  });

  it('a broken bundle.yaml is fatal, with its path', async () => {
    const dir = bundle();
    writeFiles(dir, { 'bundle.yaml': { workspace: 'Demo Space' } });
    await expect(loadWorkspace(dir)).rejects.toThrowError(ConfigError);
    await expect(loadWorkspace(dir)).rejects.toThrowError(/bundle\.yaml: workspace: invalid workspace id "Demo Space"/);
  });

  it('a missing bundle directory', async () => {
    await expect(loadWorkspace('/nonexistent/bundle')).rejects.toThrowError(/\/nonexistent\/bundle: bundle directory not found/);
  });

  it('a tenant directory with an invalid name', async () => {
    const dir = bundle();
    writeFiles(dir, { 'tenants/Evil.Corp/tenant.yaml': { tenant: 'evil', environments: { prod: {} } } });
    const ws = await loadWorkspace(dir);
    expect(messages(ws)).toContainEqual(expect.stringMatching(/tenants\/Evil\.Corp: invalid tenant id "Evil\.Corp" \(directory name\)/));
  });
});
