import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from '../support/bundle.js';

// npm run demo:channels, as a user runs it: real serve, secrets set by the CLI, signed webhooks,
// and every acme provider channel's reply at its fake.
it("the demo delivers a reply to each of acme's Slack, Telegram and Teams channels", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'examples', 'demo-channels.mjs')], {
    env: { ...process.env, GREENTIC_LOG_LEVEL: 'error' },
    timeout: 240_000,
  });
  const lines = stdout.split('\n');
  expect(lines).toEqual(
    expect.arrayContaining([
      'Slack url_verification -> 200 {"challenge":"demo-challenge"}',
      'Slack message "hello" -> 200 {"ok":true}',
      'Slack message signed with another secret -> 401 {"error":{"code":"invalid-signature","message":"the signature does not match (another signing secret, or a changed body or timestamp)"}}',
      'Telegram update "hello" -> 200 {"ok":true}',
      'Teams activity "hello" -> 200 {"ok":true}',
      '  {"channel":"C789012","text":"Welcome to ACME Support! How can I help?"}',
      expect.stringMatching(/^ {2}\{"chat_id":"-1001234567890","text":"Welcome to ACME Support! How can I help\?","reply_to":\d+\}$/),
      expect.stringMatching(
        /^ {2}\{"conversation":"a:1conversation-xyz","replyToId":"act-[0-9a-f]{8}","text":"Hi from ACME Sales! What product are you interested in\?"\}$/,
      ),
      expect.stringMatching(/^ {2}webhook: http:\/\/127\.0\.0\.1:\d+\/ingress\/slack\/acme\/prod\/support\/slack$/),
    ]),
  );
}, 300_000);
