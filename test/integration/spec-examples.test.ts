import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, tempDir } from '../support/bundle.js';
import { replies, startHost, type TestHost } from '../support/host.js';
import { sharedSpec, SPEC_COPY, specYaml, writeSpecBundle } from '../support/spec-examples.js';

const run = promisify(execFile);
const bundle = tempDir('greentic-spec-');
let written: Record<string, string>;
let t: TestHost;

beforeAll(async () => {
  written = writeSpecBundle(bundle.dir).files;
  t = await startHost({ bundleDir: bundle.dir });
});
afterAll(async () => {
  await t?.close();
  bundle.cleanup();
});

describe("the spec's configuration examples, verbatim", () => {
  it('the copy in the repository is the spec as it stands', () => {
    const shared = sharedSpec();
    if (shared) expect(readFileSync(SPEC_COPY, 'utf8')).toBe(readFileSync(shared, 'utf8'));
    // Every example the bundle is made of is there, and was written byte for byte.
    expect(Object.keys(written).sort()).toEqual([
      'bundle.yaml',
      'tenants/acme/flows/acme_support_flow.yaml',
      'tenants/acme/teams/support.yaml',
      'tenants/acme/tenant.yaml',
      'tenants/bigcorp/flows/bigcorp_helpdesk_flow.yaml',
    ]);
    for (const [file, text] of Object.entries(written)) expect(readFileSync(join(bundle.dir, file), 'utf8')).toBe(text);
    expect(written['tenants/acme/tenant.yaml']).toBe(specYaml('Tenant definition')[0]);
  });

  it('validate accepts them and says which flow each channel got', async () => {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'validate', '--bundle', bundle.dir]);
    expect(stderr).toBe('');
    const name = bundle.dir.split('/').pop();
    expect(stdout).toBe(
      [
        `bundle ${name} is valid: 2 tenants, 3 teams, 4 channels, 2 flows`,
        "acme/sales/teams: acme_support_flow (default: the tenant's only flow)",
        'acme/support/slack: acme_support_flow (default: {tenant}_{team}_flow)',
        'acme/support/telegram: acme_support_flow (default: {tenant}_{team}_flow)',
        'bigcorp/helpdesk/webchat: bigcorp_helpdesk_flow (default: {tenant}_{team}_flow)',
        '',
      ].join('\n'),
    );
  });

  it('mean what a reader expects: one acme from all three forms, bigcorp from the bundle', () => {
    expect(t.host.problems).toEqual([]);
    const acme = t.host.workspace.tenants.get('acme')!;
    expect(acme.name).toBe('ACME Corporation');
    expect([...acme.envs.values()].map((e) => [e.id, e.name])).toEqual([
      ['prod', 'Production'],
      ['staging', 'Staging'],
    ]);
    expect(acme.settings).toMatchObject({ timezone: 'America/New_York', language: 'en-US' });
    expect(acme.teams.get('support')!.name).toBe('Customer Support');
    expect(acme.teams.get('support')!.channels.get('slack')).toMatchObject({
      provider: 'slack',
      config: { workspace_id: 'T123456', channel_id: 'C789012' },
    });
    expect(acme.teams.get('support')!.channels.get('telegram')!.config).toEqual({ chat_id: '-1001234567890' });
    expect(acme.teams.get('sales')!.channels.get('teams')!.provider).toBe('teams');
    const bigcorp = t.host.workspace.tenants.get('bigcorp')!;
    expect(bigcorp.name).toBe('BigCorp Inc.');
    expect([...bigcorp.envs.keys()]).toEqual(['prod']);
    // A team with no name is called by its id.
    expect(bigcorp.teams.get('helpdesk')!.name).toBe('helpdesk');
  });

  it('converse with both tenants, on every channel', async () => {
    const acme = 'Welcome to ACME Support! How can I help?';
    expect(replies(await t.say({ tenant: 'acme', env: 'prod', team: 'support', channel: 'slack' }, 'u1', 'hello'))).toEqual([acme]);
    expect(replies(await t.say({ tenant: 'acme', env: 'prod', team: 'support', channel: 'telegram' }, 'u1', 'hello'))).toEqual([acme]);
    expect(replies(await t.say({ tenant: 'acme', env: 'staging', team: 'support', channel: 'slack' }, 'u1', 'hello'))).toEqual([acme]);
    expect(replies(await t.say({ tenant: 'acme', env: 'prod', team: 'sales', channel: 'teams' }, 'u2', 'hi'))).toEqual([acme]);
    const bigcorp = { tenant: 'bigcorp', env: 'prod', team: 'helpdesk', channel: 'webchat' };
    expect(replies(await t.say(bigcorp, 'u9', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    // A node with no next ends the run: the next message starts the flow again.
    expect(replies(await t.say(bigcorp, 'u9', 'my screen'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    const other = await t.say({ tenant: 'bigcorp', env: 'staging', team: 'helpdesk', channel: 'webchat' }, 'u9', 'hi');
    expect(other).toMatchObject({ ok: false, code: 'unknown-channel' });
  });
});
