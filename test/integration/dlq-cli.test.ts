import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../dist/cli/main.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { FileDeadLetterStore } from '../../dist/stores/file-dead-letters.js';
import { loadMasterKey } from '../../dist/stores/master-key.js';
import { FileSecretStore } from '../../dist/stores/secret-store.js';
// @ts-ignore plain JS shared with the demo script
import { nextRequests } from '../support/fake-http.mjs';
// @ts-ignore plain JS shared with the demo script
import { startFakeSlack } from '../support/fake-providers.mjs';
import { EXAMPLES, tempDir } from '../support/bundle.js';

// `greentic-host dlq` on the embedded defaults: real letter files, a replay that runs the host
// in-process and delivers to a fake Slack named by a serve config file.
const TOKEN = 'xoxb-acme-0123456789-abcdefABCDEF';
const SUBJECT = 'greentic.messaging.egress.prod.acme.support.slack';
const data = tempDir('greentic-dlq-');
let slack: Awaited<ReturnType<typeof startFakeSlack>>;
let store: InstanceType<typeof FileDeadLetterStore>;
let config: string;
beforeAll(async () => {
  slack = await startFakeSlack({ botToken: TOKEN });
  store = new FileDeadLetterStore(data.dir);
  const secrets = new FileSecretStore(data.dir, await loadMasterKey(join(data.dir, 'master.key')));
  await secrets.set({ kind: 'team', tenant: 'acme', team: 'support' }, 'slack_bot_token', TOKEN);
  config = join(data.dir, 'serve.yaml');
  writeFileSync(config, `providers:\n  slack: { api_base_url: "${slack.apiBaseUrl}" }\n`);
});
afterAll(async () => {
  await slack?.close();
  data.cleanup();
});

async function dlq(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['dlq', ...args], { out: (l) => out.push(l), err: (l) => err.push(l), stdin: process.stdin });
  return { code, out, err };
}
const D = ['--tenant', 'acme', '--data'];

/** A reply to acme's Slack channel kept as a dead letter, as the egress delivery keeps one. */
function keepReply(text: string): Promise<string> {
  const reply = { kind: 'reply', in_reply_to: 'sl1', session: 's1', user: 'slack-u0dlq', seq: 0, text, reply_to: { channel: 'C789012' } };
  return store.record({
    tenant: 'acme',
    source: 'egress',
    subject: SUBJECT,
    data: encodeJson(reply),
    reason: 'undeliverable',
    detail: 'slack: Slack answered 503 (provider-error, HTTP 503; attempt 10 of 10)',
    deliveries: 10,
  });
}

describe('greentic-host dlq', () => {
  it('lists and shows letters of one tenant only', async () => {
    const id = await keepReply('first');
    const list = await dlq('list', ...D, data.dir);
    expect(list.code).toBe(0);
    expect(list.err).toEqual(['1 dead letter of tenant acme']);
    expect(list.out).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${id}  \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z  egress  undeliverable  ${SUBJECT.replace(/\./g, '\\.')}  slack: Slack answered 503 \\(provider-error, HTTP 503; attempt 10 of 10\\)$`,
        ),
      ),
    ]);
    const shown = await dlq('show', ...D, data.dir, id);
    expect(JSON.parse(shown.out.join('\n'))).toMatchObject({ id, source: 'egress', deliveries: 10, message: { json: { kind: 'reply', text: 'first' } } });
    expect(await dlq('list', '--tenant', 'bigcorp', '--data', data.dir)).toMatchObject({ code: 0, out: [], err: ['0 dead letters of tenant bigcorp'] });
    expect(await dlq('show', '--tenant', 'bigcorp', '--data', data.dir, id)).toMatchObject({
      code: 1,
      err: [`greentic-host dlq: tenant bigcorp has no dead letter ${id}`],
    });
    expect(await dlq('delete', ...D, data.dir, id)).toMatchObject({ code: 0, err: [`deleted ${id}`] });
  });

  it('replays a reply to the provider once, and it is no longer a letter', async () => {
    const id = await keepReply('delivered at last');
    const before = slack.delivered.length;
    const r = await dlq('replay', ...D, data.dir, '--bundle', EXAMPLES, '--config', config, id);
    expect(r).toMatchObject({ code: 0, out: [`replayed ${id}`], err: [] });
    expect(slack.delivered.slice(before).map((d: any) => [d.channel, d.text])).toEqual([['C789012', 'delivered at last']]);
    expect(await store.list('acme')).toEqual([]);
  });

  it('says which replayed letters became dead letters again, and exits 1', async () => {
    slack.fault(nextRequests(1, { status: 200, body: { ok: false, error: 'channel_not_found' } }));
    const id = await keepReply('nobody there');
    const r = await dlq('replay', ...D, data.dir, '--bundle', EXAMPLES, '--config', config, '--all');
    const [again] = await store.list('acme');
    expect(r).toMatchObject({
      code: 1,
      out: [`replayed ${id}`],
      err: [
        `dead letter again: ${again!.id} undeliverable: slack: Slack answered ok: false (channel_not_found) (slack:channel_not_found, HTTP 200; attempt 1 of 10)`,
      ],
    });
    await store.delete('acme', again!.id);
  });

  it('refuses bad usage with one line', async () => {
    const usage = (m: string) => ({ code: 2, err: [`greentic-host dlq: ${m} (see --help)`] });
    expect(await dlq('purge', ...D, data.dir)).toMatchObject(usage('expected list, show, replay or delete, got "purge"'));
    expect(await dlq('list', '--tenant', '../acme', '--data', data.dir)).toMatchObject({ code: 2 });
    expect(await dlq('show', ...D, data.dir)).toMatchObject(usage('show takes exactly one ID'));
    expect(await dlq('replay', ...D, data.dir)).toMatchObject(usage('replay needs at least one ID (or --all)'));
    expect(await dlq('replay', ...D, data.dir, 'd1')).toMatchObject(usage('an embedded replay needs --bundle DIR (the host runs in-process to handle it)'));
    expect(await dlq('list', ...D, data.dir, '--all')).toMatchObject(usage('--all goes with replay only'));
    expect(await dlq('delete', ...D, data.dir, 'd../x')).toMatchObject({ code: 2 });
    expect(await dlq('delete', ...D, data.dir, 'd000000000000001-abcd')).toMatchObject({
      code: 1,
      err: ['tenant acme has no dead letter d000000000000001-abcd'],
    });
  });
});
