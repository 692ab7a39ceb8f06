import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converse, newMessageId, ReplyTimeoutError } from '../../dist/messaging/conversation.js';
import { copyExamples, writeFiles } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';
import { nextReload, recordReloads } from '../support/reload.js';

const bundle = copyExamples();
const FLOW = join(bundle.dir, 'tenants/acme/flows/acme_support_flow.yaml');
const ORIGINAL = readFileSync(FLOW, 'utf8');
const GREETING = 'Welcome to ACME Support! How can I help?';
let t: TestHost;
let seen: ReturnType<typeof recordReloads>;

/** acme's support flow with another greeting (and, optionally, the node after it renamed). */
const acmeFlow = (greeting: string, askNode = 'ask_issue') => ORIGINAL.replace(GREETING, greeting).replaceAll('ask_issue', askNode);

/** Write acme's flow and wait for the watcher's reload of it. */
async function editAcme(text: string) {
  const reloaded = nextReload(t.host, 'acme');
  writeFileSync(FLOW, text);
  return reloaded;
}

beforeAll(async () => {
  t = await startHost({ bundleDir: bundle.dir, watch: { debounceMs: 50 } });
  expect(t.host.problems).toEqual([]);
  seen = recordReloads(t.host);
});
afterAll(async () => {
  await t?.close();
  bundle.cleanup();
});

describe('a tenant edited while serve runs', () => {
  it('the next turn of a conversation uses the new version; the other tenant is not reloaded', async () => {
    const before = t.host.tenants.report('bigcorp')!;
    expect(replies(await t.say(ACME_SLACK, 'u1', 'hello'))).toEqual([GREETING]);
    const r = await editAcme(acmeFlow('Hello from ACME, v2!'));
    expect(r).toMatchObject({ tenant: 'acme', outcome: 'reloaded', problems: [] });
    expect(r.version).not.toBe(r.previousVersion);
    // u1 waits at ask_issue, which v2 still has: the conversation goes on.
    expect(replies(await t.say(ACME_SLACK, 'u1', 'I was charged twice'))).toEqual(['Sorry about the billing trouble. What is the email on your account?']);
    expect(replies(await t.say(ACME_SLACK, 'u2', 'hello'))).toEqual(['Hello from ACME, v2!']);
    expect(t.host.tenants.report('acme')).toMatchObject({ state: 'serving', version: r.version, watch: 'on' });
    expect(t.host.tenants.report('bigcorp')).toEqual(before);
    expect(seen.filter((s) => s.tenant === 'bigcorp')).toEqual([]);
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u1', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
  });

  it('a broken edit keeps the last good version, and the problems are in the log, the metrics and the report', async () => {
    const good = t.host.tenants.report('acme')!.version;
    const r = await editAcme(acmeFlow('never served').replace('type: branch', 'type: nope'));
    expect(r.outcome).toBe('kept-last-good');
    expect(r.previousVersion).toBe(good);
    const problem = expect.stringMatching(
      /acme_support_flow\.yaml: nodes\[2\]\.type: unknown component type "nope" \(tenant "acme" can use: ask, branch, handlebars, reply\)$/,
    );
    expect(r.problems.map((p) => `${p.file}: ${p.path}: ${p.message}`)).toEqual([problem]);
    expect(replies(await t.say(ACME_SLACK, 'u3', 'hello'))).toEqual(['Hello from ACME, v2!']);
    const report = t.host.tenants.report('acme')!;
    expect(report).toMatchObject({ state: 'stale', version: good, problems: [], refused: { version: r.version } });
    expect(report.refused!.problems).toEqual(r.problems);
    expect(t.logs.lines).toContainEqual(
      expect.objectContaining({ event: 'tenant-kept-last-good', tenant_id: 'acme', trigger: 'watch', version: r.version, problems: 1 }),
    );
    const metrics = await t.host.metrics.registry.metrics();
    expect(metrics).toContain('greentic_tenant_reloads_total{tenant="acme",outcome="kept-last-good"} 1');
    expect(metrics).toContain('greentic_tenant_config_problems{tenant="acme"} 1');
    // Fixed: served again, the refusal forgotten.
    const fixed = await editAcme(acmeFlow('Hello from ACME, v3!'));
    expect(fixed.outcome).toBe('reloaded');
    expect(t.host.tenants.report('acme')).toMatchObject({ state: 'serving', refused: null, problems: [] });
    expect(await t.host.metrics.registry.metrics()).toContain('greentic_tenant_config_problems{tenant="acme"} 0');
  });

  it('a session parked on a node the new version no longer has starts the flow again, its state kept', async () => {
    expect(replies(await t.say(ACME_SLACK, 'parked', 'hello'))).toEqual(['Hello from ACME, v3!']);
    await editAcme(acmeFlow('Hello from ACME, v4!', 'what_happened'));
    expect(replies(await t.say(ACME_SLACK, 'parked', 'my login is broken'))).toEqual(['Hello from ACME, v4!']);
    expect(t.logs.lines).toContainEqual(
      expect.objectContaining({ event: 'flow-restarted', tenant_id: 'acme', was: 'acme_support_flow/ask_issue', flow: 'acme_support_flow' }),
    );
    // It now waits at the new node and goes on from there.
    expect(replies(await t.say(ACME_SLACK, 'parked', 'refund please'))).toEqual(['Sorry about the billing trouble. What is the email on your account?']);
  });

  it('a turn that has its version finishes on it; concurrent turns each see one version, never a mix', async () => {
    const old = t.host.runtimes.get('acme')!;
    await editAcme(acmeFlow('Hello from ACME, v5!'));
    expect(t.host.runtimes.get('acme')).not.toBe(old);
    const onOld = await t.host.executor.runTurn(old, ACME_SLACK, { id: newMessageId(), user: 'held', text: 'hello' });
    expect(onOld.outbox.map((o) => o.text)).toEqual(['Hello from ACME, v4!']);

    // 40 conversations while a reload swaps v5 for v6: a greeting and the question after it come from one version.
    const v6 = acmeFlow('Hello from ACME, v6!').replace('question: "Sorry about the billing trouble.', 'question: "v6: sorry about the billing.');
    const turns = Array.from({ length: 40 }, async (_, i) => {
      const user = `mix${i}`;
      const greeting = replies(await t.say(ACME_SLACK, user, 'hello'))[0]!;
      const next = replies(await t.say(ACME_SLACK, user, 'a refund'))[0]!;
      return { greeting, next };
    });
    const swapped = editAcme(v6);
    const results = await Promise.all(turns);
    await swapped;
    for (const { greeting, next } of results) {
      expect(['Hello from ACME, v5!', 'Hello from ACME, v6!']).toContain(greeting);
      // A later turn never goes back to the old version.
      if (greeting.endsWith('v6!')) expect(next).toBe('v6: sorry about the billing. What is the email on your account?');
    }
    expect(replies(await t.say(ACME_SLACK, 'after', 'hello'))).toEqual(['Hello from ACME, v6!']);
  });
});

describe('tenants come and go while serve runs (embedded bus)', () => {
  const NEWCO = { tenant: 'newco', env: 'prod', team: 'desk', channel: 'web' };
  const newcoFiles = {
    'tenants/newco/tenant.yaml': 'tenant:\n  id: newco\n  name: "NewCo"\nteams:\n  desk:\n    channels:\n      web: { provider: messaging-webchat }\n',
    'tenants/newco/flows/newco_desk_flow.yaml':
      'name: newco_desk_flow\nversion: "1"\nnodes:\n  - id: ask\n    type: ask\n    config: { question: "NewCo here. Your name?", save_as: name }\n    next: bye\n  - id: bye\n    type: reply\n    config: { message: "Bye {{name}}" }\n',
  };

  /** Deploy newco's folder as operators do: written elsewhere, then moved in at once. */
  const deployNewco = () => {
    const staging = mkdtempSync(join(bundle.dir, '.staging-'));
    writeFiles(staging, newcoFiles);
    renameSync(join(staging, 'tenants', 'newco'), join(bundle.dir, 'tenants', 'newco'));
    rmSync(staging, { recursive: true });
  };
  const outcome = (o: string) => (r: { outcome: string }) => r.outcome === o;

  it('a new tenant folder is served without a restart; removed, it stops being served and its data is kept; back, it goes on', async () => {
    const added = nextReload(t.host, 'newco', outcome('added'));
    deployNewco();
    expect(await added).toMatchObject({ outcome: 'added', previousVersion: null, problems: [] });
    expect(replies(await t.say(NEWCO, 'n1', 'hi'))).toEqual(['NewCo here. Your name?']);
    const scope = { tenant: 'newco', env: 'prod', team: 'desk' };
    expect(await t.host.sessions.list(scope)).toHaveLength(1);

    const removed = nextReload(t.host, 'newco', outcome('removed'));
    rmSync(join(bundle.dir, 'tenants', 'newco'), { recursive: true });
    expect(await removed).toMatchObject({ outcome: 'removed' });
    expect(t.host.serves('newco')).toBe(false);
    expect(t.host.workspace.tenants.has('newco')).toBe(false);
    expect(t.host.tenants.report('newco')).toMatchObject({ state: 'removed', version: null, watch: 'off' });
    // Nobody answers it any more; its sessions stay on disk.
    await expect(converse(t.host.bus, NEWCO, { user: 'n1', text: 'Ann' }, 1500)).rejects.toThrowError(ReplyTimeoutError);
    expect(await t.host.sessions.list(scope)).toHaveLength(1);
    expect(replies(await t.say(ACME_SLACK, 'u9', 'hello'))).toHaveLength(1);

    const back = nextReload(t.host, 'newco', outcome('added'));
    deployNewco();
    expect(await back).toMatchObject({ outcome: 'added' });
    expect(replies(await t.say(NEWCO, 'n1', 'Ann'))).toEqual(['Bye Ann']);
  });

  it('a tenant added to bundle.yaml is served; taken out, it is removed', async () => {
    const yaml = readFileSync(join(bundle.dir, 'bundle.yaml'), 'utf8');
    const inline = `${yaml}  inlineco:\n    teams:\n      desk:\n        channels:\n          web: { provider: webchat, flow: only_flow }\n`;
    writeFiles(bundle.dir, {
      'tenants/inlineco/flows/only_flow.yaml': 'name: only_flow\nversion: "1"\nnodes:\n  - id: hi\n    type: reply\n    config: { message: "inline" }\n',
    });
    const added = nextReload(t.host, 'inlineco', outcome('added'));
    writeFileSync(join(bundle.dir, 'bundle.yaml'), inline);
    expect((await added).outcome).toBe('added');
    expect(replies(await t.say({ tenant: 'inlineco', env: 'prod', team: 'desk', channel: 'web' }, 'i1', 'hi'))).toEqual(['inline']);
    const removed = nextReload(t.host, 'inlineco', outcome('removed'));
    rmSync(join(bundle.dir, 'tenants', 'inlineco'), { recursive: true });
    writeFileSync(join(bundle.dir, 'bundle.yaml'), yaml);
    expect((await removed).outcome).toBe('removed');
    expect(await t.host.sessions.list({ tenant: 'inlineco', env: 'prod', team: 'desk' })).toHaveLength(1);
  });

  it('a broken bundle.yaml changes nothing: every tenant keeps serving, the problem is reported', async () => {
    const yaml = readFileSync(join(bundle.dir, 'bundle.yaml'), 'utf8');
    writeFileSync(join(bundle.dir, 'bundle.yaml'), 'workspace: Not An Id\n');
    const all = await t.host.tenants.reloadAll('admin');
    expect(all).toEqual([]);
    expect(t.host.problems).toEqual([expect.objectContaining({ path: 'workspace', message: expect.stringMatching(/^invalid workspace id "Not An Id"/) })]);
    expect(t.host.serves('bigcorp')).toBe(true);
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u2', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    expect(await t.host.tenants.reload('acme')).toMatchObject({ outcome: 'kept-last-good' });
    writeFileSync(join(bundle.dir, 'bundle.yaml'), yaml);
    expect((await t.host.tenants.reload('acme')).outcome).toBe('unchanged');
    expect(t.host.problems).toEqual([]);
  });
});
