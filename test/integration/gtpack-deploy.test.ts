// Greentic packs deployed to tenants and conversed with: greentic-integration's real echo-pack in
// two tenants, each with its own copy and grants; a hostile tenant whose packs reuse the same
// component id, reach for another tenant's pack file, escape with a "../" entry, or ask for
// what it was not granted. Every refusal is a problem of that tenant only; the others converse.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GreenticHost } from '../../dist/host.js';
import { converse } from '../../dist/messaging/conversation.js';
import type { ChannelAddress } from '../../dist/messaging/subjects.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { memoryLogger } from '../support/logs.js';
import { tempDir, writeFiles } from '../support/bundle.js';
import { nextReload } from '../support/reload.js';
import { buildTestPack, plainDeclaration, writeZip } from '../support/pack-writer.js';

vi.setConfig({ testTimeout: 120_000 });

const ECHO_PACK = join(process.cwd(), 'test', 'fixtures', 'greentic-packs', 'echo-pack.gtpack');
const ECHO_ID = 'ai.greentic.component-echo';
/** What component-echo's world imports (as in greentic-abis.test.ts), granted by each tenant. */
const ECHO_GRANT = { wasi: ['wasi:cli/*', 'wasi:io/*', 'wasi:filesystem/*', 'wasi:clocks/*', 'wasi:random/*'] };
/** The echo component's own bytes, out of the real pack, for the hostile tenant's look-alike pack. */
let echoWasm: Buffer;

const bundle = tempDir('greentic-packs-');
let host: GreenticHost;
const logs = memoryLogger('debug');
const data = tempDir('greentic-packs-data-');

const at = (tenant: string): ChannelAddress => ({ tenant, env: 'prod', team: 'web', channel: 'chat' });
const say = async (tenant: string, text: string) => {
  const r = await converse(host.bus, at(tenant), { user: 'u1', text }, 60_000);
  if (!r.ok) throw new Error(`turn failed: ${r.code}: ${r.message}`);
  return r.replies;
};
/** A cold first call of component-echo (236 KB) on a shared, busy machine misses the default 1000 ms. */
const SETTINGS = { limits: { deadline_ms: 30_000 } };
const tenantYaml = (id: string, extra: Record<string, unknown> = {}) => ({
  tenant: { id, settings: SETTINGS },
  teams: { web: { channels: { chat: { provider: 'messaging-webchat' } } } },
  ...extra,
});

beforeAll(async () => {
  const { readPackArchive } = await import('../../dist/greentic/pack/archive.js');
  echoWasm = (await readPackArchive(readFileSync(ECHO_PACK), 'echo-pack'))!.get(`components/${ECHO_ID}.wasm`)!;
  const t = (id: string) => join(bundle.dir, 'tenants', id);
  // shop: the real pack dropped into its packs/ folder, granted by its default type name.
  mkdirSync(join(t('shop'), 'packs'), { recursive: true });
  copyFileSync(ECHO_PACK, join(t('shop'), 'packs', 'echo-pack.gtpack'));
  writeFiles(t('shop'), { 'tenant.yaml': tenantYaml('shop', { grants: { components: { 'component-echo': ECHO_GRANT } } }) });
  // clinic: the same pack named in its config, its component granted under a name of its own.
  mkdirSync(join(t('clinic'), 'apps'), { recursive: true });
  copyFileSync(ECHO_PACK, join(t('clinic'), 'apps', 'echo.gtpack'));
  writeFiles(t('clinic'), {
    'tenant.yaml': tenantYaml('clinic', {
      packs: [{ file: 'apps/echo.gtpack', components: { [ECHO_ID]: 'echo' } }],
      grants: { components: { echo: ECHO_GRANT } },
    }),
  });
  // evil: a look-alike pack (same pack, flow and component ids, its own text), another tenant's
  // pack by path, a zip slip, and a pack whose component it was not granted.
  const lookalike = buildTestPack({
    packId: 'echo-pack',
    components: [{ id: ECHO_ID, wasm: echoWasm, declaration: plainDeclaration(['messaging.send']) }],
    flows: [{ id: 'echo', nodes: [{ id: 'echo', component: ECHO_ID, operation: 'messaging.send', mapping: { text: 'evil says {{in.text}}' } }] }],
  });
  const ungranted = buildTestPack({
    packId: 'extra',
    components: [{ id: 'ai.evil.sidecar', wasm: echoWasm }],
    flows: [{ id: 'sidecar', nodes: [{ id: 'n', component: 'ai.evil.sidecar' }] }],
  });
  mkdirSync(join(t('evil'), 'packs'), { recursive: true });
  writeFileSync(join(t('evil'), 'packs', 'echo.gtpack'), lookalike);
  writeFileSync(join(t('evil'), 'packs', 'slip.gtpack'), writeZip([{ name: '../../shop/packs/echo-pack.gtpack', data: Buffer.from('x') }]));
  writeFileSync(join(t('evil'), 'packs', 'sidecar.gtpack'), ungranted);
  writeFiles(t('evil'), {
    'tenant.yaml': tenantYaml('evil', {
      packs: ['../shop/packs/echo-pack.gtpack'],
      grants: { components: { 'component-echo': ECHO_GRANT } },
      teams: { web: { channels: { chat: { provider: 'messaging-webchat', flow: 'echo' } } } },
    }),
  });
  // signed: requires signed packs by its operator's key; one is, one is not. bare: grants the component but not the WASI it asks for.
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const signedPack = (text: string, signWith?: KeyObject) =>
    buildTestPack({
      components: [{ id: ECHO_ID, wasm: echoWasm, declaration: plainDeclaration(['messaging.send']) }],
      flows: [{ id: text, nodes: [{ id: 'n', component: ECHO_ID, mapping: { text: `${text}: {{in.text}}` } }] }],
      signWith,
    });
  mkdirSync(join(t('signed'), 'apps'), { recursive: true });
  writeFileSync(join(t('signed'), 'apps', 'ok.gtpack'), signedPack('signed', privateKey));
  writeFileSync(join(t('signed'), 'apps', 'unsigned.gtpack'), signedPack('unsigned'));
  writeFiles(t('signed'), {
    'ops.pem': publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    'tenant.yaml': tenantYaml('signed', {
      packs: [
        { file: 'apps/ok.gtpack', trust: ['ops.pem'], require_signed: true },
        { file: 'apps/unsigned.gtpack', trust: ['ops.pem'], require_signed: true },
      ],
      grants: { components: { 'component-echo': ECHO_GRANT } },
    }),
  });
  mkdirSync(join(t('bare'), 'packs'), { recursive: true });
  copyFileSync(ECHO_PACK, join(t('bare'), 'packs', 'echo-pack.gtpack'));
  writeFiles(t('bare'), { 'tenant.yaml': tenantYaml('bare', { grants: { components: { 'component-echo': {} } } }) });
  host = await GreenticHost.start({ bundleDir: bundle.dir, dataDir: data.dir, logger: logs.logger, workers: 2, watch: { debounceMs: 50 } });
});

afterAll(async () => {
  await host?.close();
  bundle.cleanup();
  data.cleanup();
});

describe('packs deployed to tenants', () => {
  it("two tenants converse through their own copies of greentic-integration's echo-pack", async () => {
    expect(await say('shop', 'hello')).toEqual(['Echo test']);
    expect(await say('clinic', 'hello')).toEqual(['Echo test']);
  });

  it("a pack reusing another tenant's pack, flow and component ids runs as its own tenant's, with its own flow", async () => {
    expect(await say('evil', 'hi')).toEqual(['evil says hi']);
    // ...and the others' flows are still theirs.
    expect(await say('shop', 'again')).toEqual(['Echo test']);
  });

  it("refuses, as problems of the hostile tenant only: another tenant's pack by path, a zip slip, an ungranted component", () => {
    const problems = host.problems.filter((p) => p.tenant === 'evil').map(formatProblem);
    const b = bundle.dir;
    expect(problems).toEqual([
      `${b}/tenants/evil/tenant.yaml: packs[0]: ${b}/tenants/shop/packs/echo-pack.gtpack: leads outside tenant "evil"'s folder (${b}/tenants/evil/)`,
      `${b}/tenants/evil/packs/slip.gtpack: entry "../../shop/packs/echo-pack.gtpack" has a ".." segment (a path outside the pack)`,
      `${b}/tenants/evil/packs/sidecar.gtpack: manifest.cbor: flows[0].flow.nodes[0].component: component "sidecar" is not granted to tenant "evil" (grants.components) (pack component "ai.evil.sidecar")`,
    ]);
    expect(host.problems.filter((p) => !['evil', 'signed', 'bare'].includes(p.tenant ?? ''))).toEqual([]);
  });

  it("runs a signed pack by the tenant's trusted key, and refuses an unsigned one where signing is required", async () => {
    expect(await say('signed', 'hi')).toEqual(['signed: hi']);
    expect(host.problems.filter((p) => p.tenant === 'signed').map(formatProblem)).toEqual([
      `${bundle.dir}/tenants/signed/apps/unsigned.gtpack: the pack is not signed (signatures/pack.sig is missing) and signed packs are required`,
    ]);
  });

  it('grants nothing a pack asks for by itself: the WASI its component imports must be granted by the tenant', () => {
    const problems = host.problems.filter((p) => p.tenant === 'bare').map(formatProblem);
    expect(problems[0]).toBe(
      `${bundle.dir}/tenants/bare/packs/echo-pack.gtpack: manifest.cbor: flows[0].flow.nodes[0].component: component "component-echo" needs WASI interface "wasi:cli/environment" (grants.components.component-echo.wasi), which tenant "bare" does not grant`,
    );
  });

  it('hot-reloads a replaced pack: its new flow is served, a broken one keeps the last good version', async () => {
    const file = join(bundle.dir, 'tenants', 'clinic', 'apps', 'echo.gtpack');
    const changed = buildTestPack({
      packId: 'echo-pack',
      components: [{ id: ECHO_ID, wasm: echoWasm, declaration: plainDeclaration(['messaging.send']) }],
      flows: [{ id: 'echo', nodes: [{ id: 'echo', component: ECHO_ID, mapping: { text: 'v2: {{in.text}}' } }] }],
    });
    let reloaded = nextReload(host, 'clinic');
    writeFileSync(file, changed);
    expect((await reloaded).outcome).toBe('reloaded');
    expect(await say('clinic', 'x')).toEqual(['v2: x']);
    reloaded = nextReload(host, 'clinic');
    writeFileSync(file, buildTestPack({ components: [{ id: ECHO_ID, wasm: echoWasm }], tamper: { [`components/${ECHO_ID}.wasm`]: Buffer.from('swapped') } }));
    const report = await reloaded;
    expect(report.outcome).toBe('kept-last-good');
    expect(await say('clinic', 'y')).toEqual(['v2: y']);
  });
});
