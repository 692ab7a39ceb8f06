// A real .ygtc (greentic-flow's hello) and a real .gtpack (greentic-integration's echo-pack) in
// one bundle, conversed with through the embedded host; and a .ygtc flow that asks questions,
// calls the pack's component through component.exec and answers with a Handlebars template.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GreenticHost } from '../../dist/host.js';
import { converse } from '../../dist/messaging/conversation.js';
import { memoryLogger } from '../support/logs.js';
import { tempDir, writeFiles } from '../support/bundle.js';

vi.setConfig({ testTimeout: 120_000 });

const FIXTURES = join(process.cwd(), 'test', 'fixtures');
const bundle = tempDir('greentic-ygtc-');
const data = tempDir('greentic-ygtc-data-');
let host: GreenticHost;

const say = async (channel: string, user: string, text: string) => {
  const r = await converse(host.bus, { tenant: 'shop', env: 'prod', team: 'web', channel }, { user, text }, 60_000);
  if (!r.ok) throw new Error(`turn failed: ${r.code}: ${r.message}`);
  return r.replies;
};

beforeAll(async () => {
  const shop = join(bundle.dir, 'tenants', 'shop');
  mkdirSync(join(shop, 'flows'), { recursive: true });
  mkdirSync(join(shop, 'packs'), { recursive: true });
  copyFileSync(join(FIXTURES, 'greentic-flows', 'hello.ygtc'), join(shop, 'flows', 'hello.ygtc'));
  copyFileSync(join(FIXTURES, 'greentic-packs', 'echo-pack.gtpack'), join(shop, 'packs', 'echo-pack.gtpack'));
  writeFiles(shop, {
    'tenant.yaml': {
      // A cold first call of component-echo on a shared, busy machine misses the default 1000 ms.
      tenant: { id: 'shop', settings: { limits: { deadline_ms: 30_000 } } },
      grants: {
        components: {
          handlebars: {},
          ask: {},
          'component-echo': { wasi: ['wasi:cli/*', 'wasi:io/*', 'wasi:filesystem/*', 'wasi:clocks/*', 'wasi:random/*'] },
        },
      },
      teams: {
        web: {
          channels: {
            hello: { provider: 'messaging-webchat', flow: 'hello-flow' },
            echo: { provider: 'messaging-webchat', flow: 'echo' },
            forecast: { provider: 'messaging-webchat', flow: 'forecast' },
          },
        },
      },
    },
    'flows/forecast.ygtc': `id: forecast
type: messaging
schema_version: 2
parameters:
  days: 3
nodes:
  in:
    qa.process:
      welcome: "Hi {{in.user}}! Let's get your forecast."
      questions:
        - id: city
          prompt: "Which city?"
          answer_type: text
    routing:
      - to: lookup
  lookup:
    component.exec:
      component: component-echo
      operation: messaging.send
      input:
        text: "looking up {{state.city}}"
    routing:
      - to: answer
  answer:
    templating.handlebars:
      text: "{{state.city}}: sunny for the next {{parameters.days}} days{{#if in.text}} (you said {{in.text}}){{/if}}"
    routing:
      - out: true
`,
  });
  host = await GreenticHost.start({ bundleDir: bundle.dir, dataDir: data.dir, logger: memoryLogger('warn').logger, workers: 2 });
});

afterAll(async () => {
  await host?.close();
  bundle.cleanup();
  data.cleanup();
});

describe('.ygtc flows and .gtpack packs in one bundle', () => {
  it('loads them without a problem', () => {
    expect(host.problems).toEqual([]);
  });

  it("converses with greentic-flow's hello.ygtc and greentic-integration's echo-pack", async () => {
    expect(await say('hello', 'u1', 'hi')).toEqual(['Hello from greentic-flow!']);
    expect(await say('echo', 'u1', 'hi')).toEqual(['Echo test']);
  });

  it("a .ygtc flow asks, saves the answer, calls the pack's component and answers from a template", async () => {
    expect(await say('forecast', 'ann', 'hello')).toEqual(["Hi ann! Let's get your forecast.", 'Which city?']);
    expect(await say('forecast', 'ann', 'Paris')).toEqual(['looking up Paris', 'Paris: sunny for the next 3 days (you said Paris)']);
  });
});
