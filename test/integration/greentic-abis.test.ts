// Every Greentic ABI this host runs, with Greentic's own published binaries
// (test/fixtures/greentic-real/, see its README): `describe`, `call --op` with inputs their
// schemas declare, and each as a flow node whose output the next node reads through config.input.
// component-http makes a real request (through http-client@1.0.0) to a local server.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { converse } from '../../dist/messaging/conversation.js';
import type { ChannelAddress } from '../../dist/messaging/subjects.js';
import { CLI, copyExamples, GREENTIC_WASI_GRANT, installTenantComponent, tempDir, writeFiles } from '../support/bundle.js';
import { replies, startHost, type TestHost } from '../support/host.js';

const REAL = join(process.cwd(), 'test', 'fixtures', 'greentic-real');
/** folder -> what it is (see the README there). */
const NODE06 = 'c4f17fc14670';
const NODE05 = 'b13f5a5ee34d';
const INVOKE_ONLY = '666d813f32ca';
const V0V6 = '4d9cd7b73736';
const PROVIDER = '98c4e3bf5ddd';
const HTTP = '27645cbd0c44';
/** Calls get room for a cold start on a busy machine (the real binaries are up to 900 KB). */
const LIMITS = { wall_time_ms: 60_000, memory_mb: 256 };

const wasmOf = (folder: string) =>
  join(
    REAL,
    folder,
    readdirSync(join(REAL, folder)).find((f) => f.endsWith('.wasm'))!,
  );
const manifestOf = (folder: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(REAL, folder, 'component.manifest.json'), 'utf8')) as Record<string, unknown>;

// Each test starts the CLI (a fresh Node, a cold worker) up to three times with binaries of up to 900 KB.
vi.setConfig({ testTimeout: 180_000 });

const work = tempDir('greentic-abis-');
const run = promisify(execFile);
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd: work.dir,
      env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn' },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A copy of a real component and its manifest (limits raised as above, `edit` applied) in its own folder. */
function staged(folder: string, edit: (m: Record<string, unknown>) => void = () => {}): { wasm: string; manifest: string } {
  const dir = join(work.dir, folder);
  mkdirSync(dir, { recursive: true });
  const wasm = join(dir, 'component.wasm');
  copyFileSync(wasmOf(folder), wasm);
  const m = folder === INVOKE_ONLY ? events2msgManifest() : { ...manifestOf(folder), limits: LIMITS };
  edit(m);
  const manifest = join(dir, 'component.manifest.json');
  writeFileSync(manifest, JSON.stringify(m));
  return { wasm, manifest };
}

/** events2msg ships no manifest: the smallest Greentic manifest naming its one op. */
function events2msgManifest(): Record<string, unknown> {
  return { name: 'component-events2msg', version: '0.1.0', operations: [{ name: 'route' }], default_operation: 'route', limits: LIMITS };
}

/** The templates manifest in its repository pins the blake3 of another build than the binary packed beside it. */
const unpinned = (m: Record<string, unknown>) => void delete m.hashes;

let server: Server;
let port = 0;
const received: Array<{ path: string; body: string }> = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ seen: JSON.parse(body || 'null') as unknown }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  work.cleanup();
});

const scope = ['--tenant', 'acme', '--env', 'prod'];

describe('greentic-host describe on every ABI', () => {
  it.each([
    [NODE06, 'contract-fixture 0.1.0: Greentic component contract-fixture', 'abi: greentic:component/node@0.6', ['handle_message']],
    [
      NODE05,
      'Contract Fixture 0.1.0: node@0.5 component',
      'abi: greentic:component/node@0.5 (JSON) (no describe export: derived from its exports and manifest)',
      ['handle_message'],
    ],
    [
      INVOKE_ONLY,
      'component-events2msg 0.1.0: exports invoke only (no describe)',
      'abi: greentic:component/node@0.6 (no describe export: derived from its exports and manifest)',
      ['route'],
    ],
    [
      V0V6,
      'ai.greentic.component-templates 0.1.16: component-templates',
      'abi: component-v0-v6 world @0.6.0 (component-runtime run) (no describe export: derived from its exports and manifest)',
      ['handle_message', 'qa-spec', 'apply-answers', 'i18n-keys', 'text'],
    ],
    [
      PROVIDER,
      'messaging-provider-dummy 0.0.0: provider (component-v0-v6-v0)',
      undefined,
      ['run', 'qa-spec', 'apply-answers', 'i18n-keys', 'i18n-bundle', 'validate-config', 'healthcheck'],
    ],
  ])('%s', async (folder, title, abi, ops) => {
    const { wasm, manifest } = staged(folder, folder === V0V6 ? unpinned : undefined);
    const text = await cli(['describe', wasm, '--manifest', manifest]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(title);
    if (abi !== undefined) expect(lines).toContain(abi);
    const json = await cli(['describe', wasm, '--manifest', manifest, '--json']);
    expect((JSON.parse(json.stdout) as { ops: Array<{ name: string }> }).ops.map((o) => o.name)).toEqual(ops);
  });

  it("refuses a binary whose blake3 is not the manifest's hashes.component_wasm", async () => {
    const dir = join(work.dir, 'mismatch');
    mkdirSync(dir, { recursive: true });
    copyFileSync(wasmOf(V0V6), join(dir, 'templates.wasm'));
    copyFileSync(join(REAL, V0V6, 'component.manifest.json'), join(dir, 'component.manifest.json'));
    const r = await cli(['describe', join(dir, 'templates.wasm')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      `greentic-host describe: ${join(dir, 'templates.wasm')}: blake3 is 01fdaefd95e916c195fd7e5888045dbc805882f21f37e6caf4f39c8f86a86220 but the manifest's hashes.component_wasm pins e815d777677add7c89c1b61466585c6021ef34335e65edfd291895b7840e2b50`,
    );
  });
});

describe('greentic-host call --op on every ABI, with inputs from their schemas', () => {
  it.each([
    [NODE06, 'handle_message', { input: 'hi' }, { message: 'contract-fixture::handle_message => hi' }],
    [NODE05, 'handle_message', { message: 'hi' }, {}],
    [V0V6, 'handle_message', { input: 'hi' }, { message: 'component-templates::handle_message => hi' }],
    [PROVIDER, 'run', { message: 'hi' }, { ok: true, error: null, message_id: expect.stringMatching(/^dummy:[0-9a-f]{64}$/) as unknown }],
    [
      INVOKE_ONLY,
      'route',
      { event: { type: 'order.created' }, target_provider: 'webchat', channel_id: 'c1', conversation_id: 'v1' },
      {
        ok: true,
        provider: 'webchat',
        payload: {
          provider: 'webchat',
          channel_id: 'c1',
          conversation_id: 'v1',
          message: { type: 'message', text: null, attachments: null, card: null },
          metadata: null,
        },
      },
    ],
  ])('%s %s', async (folder, op, input, output) => {
    const { wasm, manifest } = staged(folder, folder === V0V6 ? unpinned : undefined);
    const r = await cli(['call', wasm, '--manifest', manifest, ...scope, '--op', op, '--input', JSON.stringify(input)]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject(output as object);
  });

  it("an input its op's schema refuses is a node error naming what is wrong; ok: false is a node error", async () => {
    const { wasm, manifest } = staged(NODE06);
    const bad = await cli(['call', wasm, '--manifest', manifest, ...scope, '--op', 'handle_message', '--input', '{"text":"hi"}']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `greentic-host call: node error invalid-input: component "component" (op "handle_message"): the input must have required property 'input' (the op's input schema)\n`,
    );
    // events2msg answers an op it does not know with { ok: false, error }.
    const inv = staged(INVOKE_ONLY, (m) => (m.operations as object[]).push({ name: 'unknown' }));
    const declined = await cli(['call', inv.wasm, '--manifest', inv.manifest, ...scope, '--op', 'unknown', '--input', '{}']);
    expect(declined.code).toBe(1);
    expect(JSON.parse(declined.stdout)).toEqual({ ok: false, error: 'unsupported op: unknown' });
    expect(declined.stderr.trimEnd().split('\n').at(-1)).toBe('greentic-host call: component answered ok: false (op "unknown")');
  });

  it('component-http (http-client@1.0.0) reaches a granted origin, and nothing else', async () => {
    const { wasm, manifest } = staged(HTTP);
    const input = JSON.stringify({ input: 'hi', url: `http://127.0.0.1:${port}/hook`, method: 'POST', body: { n: 1 } });
    const r = await cli(['call', wasm, '--manifest', manifest, ...scope, '--op', 'post-json', '--allow-http', `http://127.0.0.1:${port}`, '--input', input]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, status: 200, url: `http://127.0.0.1:${port}/hook`, body: { seen: { n: 1 } }, error: null });
    expect(received.at(-1)).toEqual({ path: '/hook', body: '{"n":1}' });
    const count = received.length;
    const byName = JSON.stringify({ input: 'hi', url: `http://localhost:${port}/hook`, method: 'POST', body: { n: 2 } });
    const loop = await cli([
      'call',
      wasm,
      '--manifest',
      manifest,
      ...scope,
      '--op',
      'post-json',
      '--allow-http',
      `http://localhost:${port}`,
      '--input',
      byName,
    ]);
    const denial = loop.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.event === 'access-denied');
    expect(denial).toMatchObject({
      tenant_id: 'acme',
      capability: 'http-client.send',
      reason: `"localhost" resolves to 127.0.0.1, a loopback address; grant it by address (http://127.0.0.1:${port}) or with private_network: true`,
    });
    expect(JSON.parse(loop.stdout)).toMatchObject({ ok: false, status: 500 });
    const none = await cli(['call', wasm, '--manifest', manifest, ...scope, '--op', 'post-json', '--input', input]);
    expect(none.stdout + none.stderr).toContain('may make no HTTP requests (grants.components.component.http)');
    expect(received.length).toBe(count);
  });
});

describe('every ABI as a flow node', () => {
  const bundle = copyExamples();
  let t: TestHost;
  const web = (channel: string): ChannelAddress => ({ tenant: 'acme', env: 'prod', team: 'sales', channel });
  /** A one-channel flow: the Greentic node, then greentic-js echo replying what the mapping reads of its output. */
  const flows: Array<[string, string, string, Record<string, unknown>, string]> = [
    ['n06', NODE06, 'handle_message', { input: '{{in.text}}' }, '{{prev.message}}'],
    ['n05', NODE05, 'handle_message', { message: '{{in.text}}' }, 'got {{prev}}'],
    [
      'inv',
      INVOKE_ONLY,
      'route',
      { event: { type: 'chat' }, target_provider: 'webchat', channel_id: '{{in.channel}}', conversation_id: '{{ctx.session}}' },
      '{{prev.payload.channel_id}}',
    ],
    ['tpl', V0V6, 'text', { input: '{{in.text}}' }, '{{prev.message}}'],
    ['dummy', PROVIDER, 'run', { message: '{{in.text}}' }, 'ok={{prev.ok}}'],
    [
      'http',
      HTTP,
      'post-json',
      { input: 'x', url: 'http://127.0.0.1:PORT/flow', method: 'POST', body: { said: '{{in.text}}', tenant: '{{ctx.tenant}}' } },
      '{{prev.status}} {{prev.body.seen.said}}',
    ],
  ];

  beforeAll(async () => {
    installTenantComponent(bundle.dir, 'acme', 'greentic-js', 'gjs');
    // greentic-js is 12 MB of SpiderMonkey: its first call in a fresh worker needs more than its 2 s on a busy machine.
    const gjs = join(bundle.dir, 'tenants', 'acme', 'components', 'gjs', 'manifest.yaml');
    writeFileSync(gjs, readFileSync(gjs, 'utf8').replace('deadline_ms: 2000', 'deadline_ms: 60000'));
    const files: Record<string, object> = {};
    const grants: Record<string, unknown> = { reply: null, ask: null, branch: null, gjs: GREENTIC_WASI_GRANT };
    const secrets: Record<string, unknown> = {};
    for (const [name, folder, op, input, text] of flows) {
      const dir = join(bundle.dir, 'tenants', 'acme', 'components', name);
      mkdirSync(dir, { recursive: true });
      const bytes = readFileSync(wasmOf(folder));
      writeFileSync(join(dir, `${name}.wasm`), bytes);
      const m = folder === INVOKE_ONLY ? events2msgManifest() : { ...manifestOf(folder), limits: LIMITS };
      if (folder === V0V6) unpinned(m);
      writeFileSync(join(dir, 'component.manifest.json'), JSON.stringify(m));
      writeFileSync(join(dir, 'component.sha256'), `${createHash('sha256').update(bytes).digest('hex')}  ${name}.wasm\n`);
      if (folder === PROVIDER) secrets[name] = { names: ['dummy_api_token'] };
      grants[name] = {
        wasi: ['wasi:cli/*', 'wasi:io/*', 'wasi:filesystem/*', 'wasi:clocks/*', 'wasi:random/*'],
        ...(folder === HTTP ? { http: [`http://127.0.0.1:${port}`] } : {}),
      };
      const mapped = JSON.parse(JSON.stringify(input).replace('PORT', String(port))) as Record<string, unknown>;
      files[`tenants/acme/flows/g_${name}.yaml`] = {
        name: `g_${name}`,
        version: '1',
        start: 'a',
        nodes: [
          { id: 'a', type: name, config: { op, input: mapped }, next: 'b' },
          { id: 'b', type: 'gjs', config: { op: 'echo', input: { message: { text } } } },
        ],
      };
    }
    writeFiles(bundle.dir, {
      ...files,
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {} },
        settings: { limits: { deadline_ms: 60_000, memory_mib: 256 } },
        grants: { components: grants, secrets },
      },
      'tenants/acme/teams/sales.yaml': {
        team: 'sales',
        channels: Object.fromEntries(flows.map(([name]) => [name, { provider: 'webchat', flow: `g_${name}` }])),
      },
      'tenants/acme/teams/support.yaml': { team: 'support', channels: {} },
    });
    t = await startHost({ bundleDir: bundle.dir, workers: 2 });
    expect(t.host.problems).toEqual([]);
  }, 240_000);
  afterAll(async () => {
    await t?.close();
    bundle.cleanup();
  });

  it.each([
    ['n06', 'hello', ['contract-fixture::handle_message => hello', 'echo: contract-fixture::handle_message => hello']],
    ['n05', 'hello', ['echo: got {}']],
    ['inv', 'hello', ['echo: inv']],
    ['tpl', 'hello', ['component-templates::handle_message => hello', 'echo: component-templates::handle_message => hello']],
    ['dummy', 'hello', ['echo: ok=true']],
    ['http', 'hello', ['echo: 200 hello']],
  ])(
    '%s: the op gets its mapped input, and the next node reads its output',
    async (channel, text, reply) => {
      // Two cold components in one turn: the answer is waited for longer than t.say's 20 s.
      expect(replies(await converse(t.host.bus, web(channel), { user: 'u1', text }, 120_000))).toEqual(reply);
    },
    180_000,
  );

  it('the http node sent what the mapping built, for the bound tenant', () => {
    expect(received.filter((r) => r.path === '/flow').map((r) => JSON.parse(r.body) as unknown)).toEqual([{ said: 'hello', tenant: 'acme' }]);
  });
});
