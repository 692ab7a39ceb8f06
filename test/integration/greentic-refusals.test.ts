// Greentic components the host refuses when they load, each for one reason it names exactly;
// the tenant's other flows, and other tenants, go on.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import {
  CLI,
  GREENTIC_WASI_GRANT,
  copyExamples,
  fixtureWasm,
  greenticJsManifest,
  installGreenticComponent,
  installTenantComponent,
  tempDir,
  writeFiles,
} from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost } from '../support/host.js';

const ACME_SALES = { tenant: 'acme', env: 'prod', team: 'sales', channel: 'teams' };

/**
 * Start a host whose acme sales flow is one node of type `guest` (with `config`), after
 * `setup(bundleDir)`; returns its problems (paths from tenants/ on), what the sales channel
 * answers, and that acme's support flow and bigcorp still answer.
 */
async function load(setup: (dir: string) => void, grants: Record<string, unknown>, config: Record<string, unknown> = {}) {
  const b = copyExamples();
  try {
    setup(b.dir);
    writeFiles(b.dir, {
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {}, staging: {} },
        grants: { components: { reply: null, ask: null, branch: null, ...grants } },
      },
      'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'x', nodes: [{ id: 'x', type: 'guest', config }] },
    });
    const h = await startHost({ bundleDir: b.dir, workers: 1 });
    try {
      const problems = h.host.problems.map(formatProblem).map((p) => p.slice(p.indexOf('tenants/')));
      const answer = await h.say(ACME_SALES, 'u1', 'hi');
      expect(replies(await h.say(ACME_SLACK, 'u1', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
      expect(replies(await h.say(BIGCORP_WEBCHAT, 'u1', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
      return { problems, answer };
    } finally {
      await h.close();
    }
  } finally {
    b.cleanup();
  }
}

describe('Greentic components refused at load', () => {
  it('a WASI version the sandbox cannot serve, named with its version', async () => {
    const { problems, answer } = await load((dir) => installTenantComponent(dir, 'acme', 'greentic-wasi-next', 'guest'), { guest: { wasi: ['wasi:cli/*'] } });
    // As for every load error, the manifest is named twice: as the problem's file and in the load error.
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^tenants\/acme\/components\/guest\/manifest\.yaml: \S*guest\/manifest\.yaml: /);
    expect(
      problems[0]!.endsWith(
        'manifest.yaml: component "guest" imports wasi:cli/environment@0.3.0, a WASI version this host cannot serve; it serves WASI 0.2 (wasi:cli/environment@0.2.3, to which other 0.2.x versions are mapped)',
      ),
    ).toBe(true);
    expect(answer).toMatchObject({ ok: false, code: 'flow-unavailable' });
  });

  it("Greentic's legacy node@0.4.0 contract, named with its version and what runs here (as a node, and to describe and call)", async () => {
    const refusal =
      'component "guest" exports greentic:component/node@0.4.0, Greentic\'s legacy node contract, which this host does not run: ' +
      'rebuild it against greentic:component@0.6.0 (node@0.5 and node@0.6 components, the component-v0-v6 world and the 0.6.1 provider world run here)';
    const { problems, answer } = await load((dir) => installTenantComponent(dir, 'acme', 'greentic-node04', 'guest'), { guest: null });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^tenants\/acme\/components\/guest\/manifest\.yaml: \S*guest\/manifest\.yaml: /);
    expect(problems[0]!.endsWith(`manifest.yaml: ${refusal}`)).toBe(true);
    expect(answer).toMatchObject({ ok: false, code: 'flow-unavailable' });
    const wasm = fixtureWasm('greentic-node04');
    const own = refusal.replace('"guest"', '"greentic-node04"');
    const data = tempDir('greentic-node04-');
    for (const args of [
      ['describe', wasm],
      ['call', wasm, '--tenant', 'acme', '--env', 'prod', '--data', data.dir, '--op', 'x', '--input', '{}'],
    ]) {
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [CLI, ...args],
          { env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn', GREENTIC_MASTER_KEY: 'ef'.repeat(32) } },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
        ),
      );
      expect(r).toEqual({ code: 1, stdout: '', stderr: `greentic-host ${args[0]}: ${wasm}: ${own}\n` });
    }
    data.cleanup();
  });

  it('its WASI, denied by default: the tenant must grant it', async () => {
    const { problems, answer } = await load((dir) => installTenantComponent(dir, 'acme', 'greentic-js', 'guest'), { guest: null });
    expect(problems[0]).toBe(
      'tenants/acme/flows/acme_sales_flow.yaml: nodes.x.type: component "guest" needs WASI interface "wasi:cli/environment" (grants.components.guest.wasi), which tenant "acme" does not grant',
    );
    expect(problems).toHaveLength(15);
    expect(answer).toMatchObject({ ok: false, code: 'flow-unavailable' });
  });

  it('what its component.manifest.json asks of the host, denied by default: a secret the tenant does not grant', async () => {
    const manifest = greenticJsManifest();
    const capabilities = manifest.capabilities as { host: Record<string, unknown> };
    capabilities.host.secrets = { required: [{ key: 'crm_token', required: true, format: 'text' }] };
    const { problems, answer } = await load((dir) => installGreenticComponent(dir, 'acme', 'greentic-js', 'guest', manifest), { guest: GREENTIC_WASI_GRANT });
    expect(problems).toEqual([
      'tenants/acme/flows/acme_sales_flow.yaml: nodes.x.type: component "guest" needs secret "crm_token" (grants.secrets.guest.names), which tenant "acme" does not grant',
    ]);
    expect(answer).toMatchObject({ ok: false, code: 'flow-unavailable' });
  });

  it('a host capability greentic-host does not give', async () => {
    const manifest = greenticJsManifest();
    (manifest.capabilities as { host: Record<string, unknown> }).host.events = { inbound: true, outbound: false };
    const { problems } = await load((dir) => installGreenticComponent(dir, 'acme', 'greentic-js', 'guest', manifest), { guest: GREENTIC_WASI_GRANT });
    expect(problems).toContain(
      'tenants/acme/components/guest/component.manifest.json: capabilities.host.events.inbound: greentic-host does not provide events to components; the component cannot run here',
    );
  });

  it('outgoing HTTP the manifest asks for and the tenant does not grant by origin', async () => {
    const manifest = greenticJsManifest();
    (manifest.capabilities as { host: Record<string, unknown> }).host.http = { client: true, server: false };
    const { problems } = await load((dir) => installGreenticComponent(dir, 'acme', 'greentic-js', 'guest', manifest), { guest: GREENTIC_WASI_GRANT });
    expect(problems).toEqual([
      'tenants/acme/flows/acme_sales_flow.yaml: nodes.x.type: component "guest" needs outgoing HTTP (grants.components.guest.http: the origins it may reach), which tenant "acme" does not grant',
    ]);
  });

  it('a node naming an op its describe() does not list (checked in the sandbox at load)', async () => {
    const { problems, answer } = await load(
      (dir) => installTenantComponent(dir, 'acme', 'greentic-js', 'guest'),
      { guest: GREENTIC_WASI_GRANT },
      { op: 'translate' },
    );
    expect(problems).toEqual([
      'tenants/acme/flows/acme_sales_flow.yaml: nodes.x.config.op: the component has no op "translate" (it describes: echo, route, ask, ctx, stderr, exit, fail, decline, data, bad-output, env)',
    ]);
    expect(answer).toMatchObject({
      ok: false,
      code: 'flow-unavailable',
      message:
        'flow "acme_sales_flow" cannot run: node "x": the component has no op "translate" (it describes: echo, route, ask, ctx, stderr, exit, fail, decline, data, bad-output, env)',
    });
  });
});
