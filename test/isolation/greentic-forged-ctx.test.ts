// A Greentic component that forges another tenant's ctx on each Greentic host interface
// (state-store, telemetry logger, http-client; secrets-store takes no ctx, so it asks for other
// namespaces by key): every call is refused and counted (an access-denied log line with both
// scopes), and nothing of the other tenant is reached: no request at the HTTP server, no secret
// read, bigcorp's secrets unchanged. Run through `greentic-host call`, as an author would.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, fixtureWasm, tempDir } from '../support/bundle.js';

const WASM = fixtureWasm('greentic-forger');
const MANIFEST = WASM.replace(/greentic-forger\.wasm$/, 'manifest.yaml');
const data = tempDir('greentic-gforger-');
const KEY = 'cd'.repeat(32);
let server: Server;
let url = '';
let requests = 0;

function greentic(args: readonly string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, GREENTIC_LOG_LEVEL: 'warn', GREENTIC_MASTER_KEY: KEY };
  delete env.GREENTIC_DEBUG;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

const logLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const SCOPE = ['--tenant', 'acme', '--env', 'prod', '--team', 'support', '--data', data.dir];

beforeAll(async () => {
  server = createServer((_req, res) => {
    requests++;
    res.end('bigcorp data');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  for (const [ns, value] of [
    [['--tenant', 'bigcorp'], 'BIGCORP-SECRET'],
    [['--global'], 'GLOBAL-SECRET'],
  ] as const) {
    expect((await greentic(['secrets', 'set', ...ns, '--data', data.dir, 'api_key'], `${value}\n`)).code).toBe(0);
  }
}, 60_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  data.cleanup();
});

/** What greenticCtxMismatch says for each forgery (the bound scope: acme/prod/support, session cli-session). */
const FORGERIES: Array<[string, string, string]> = [
  ['tenant', 'bigcorp/prod/support', 'ctx names tenant "bigcorp" but this call is bound to tenant "acme"'],
  ['tenant-id', 'bigcorp/prod/support', 'ctx names tenant-id "bigcorp" but this call is bound to tenant-id "acme"'],
  ['env', 'acme/staging/support', 'ctx names env "staging" but this call is bound to env "prod"'],
  ['team', 'acme/prod/helpdesk', 'ctx names team "helpdesk" but this call is bound to team "support"'],
  ['session', 'acme/prod/support', 'ctx names session-id "victim" but this call is bound to session-id "cli-session"'],
  ['impersonation', 'acme/prod/support', 'ctx asks for impersonation, which this host never grants'],
];
const CALLS = ['state-store.read', 'state-store.write', 'state-store.delete', 'telemetry.log', 'http-client.send'];

describe("Greentic host interfaces refuse another tenant's ctx", () => {
  it('every forgery on every interface is access-denied and logged with both scopes; the controls pass; nothing of bigcorp is reached', async () => {
    const forges = FORGERIES.map(([f]) => f);
    const input = JSON.stringify({ forges, url: `${url}/secrets` });
    const r = await greentic(['call', WASM, '--manifest', MANIFEST, ...SCOPE, '--op', 'forge', '--allow-http', url, '--input', input]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      lines: [
        ...FORGERIES.flatMap(([f, , reason]) => CALLS.map((c) => `${f}: ${c} access-denied: ${c}: ${reason}`)),
        'telemetry.log of a span naming bigcorp access-denied: telemetry.log: span names tenant "bigcorp" but this call is bound to tenant "acme"',
        'secrets-store.get bigcorp/api_key invalid-key',
        'secrets-store.get ../bigcorp/api_key invalid-key',
        'secrets-store.get global/api_key invalid-key',
        // Greentic's upper-case key is acme's own bigcorp_api_key, which acme does not have.
        'secrets-store.get BIGCORP_API_KEY none',
        'control state-store.write ok',
        'control state-store.read ok',
      ],
    });
    // Each refusal is counted; the first 10 of a call are logged with both scopes, then one line says the rest are only counted.
    const denials = logLines(r.stderr).filter((l) => l.event === 'access-denied' || l.event === 'access-denied-suppressed');
    const logged = FORGERIES.slice(0, 2).flatMap(([, requested, reason]) => CALLS.map((c) => [c, requested, reason]));
    expect(denials.map((l) => [l.capability, l.requested_scope, l.reason])).toEqual([...logged, ['state-store.read', undefined, undefined]]);
    for (const d of denials) expect(d).toMatchObject({ tenant_id: 'acme', bound_scope: 'acme/prod/support', component: 'greentic-forger' });
    expect(denials.at(-1)!.event).toBe('access-denied-suppressed');
    expect(requests).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/BIGCORP-SECRET|GLOBAL-SECRET|bigcorp data|pwned/);
  }, 120_000);

  it("secrets-store.put of a key naming another tenant's namespace ends the call; bigcorp's secrets are as they were", async () => {
    for (const key of ['../bigcorp/api_key', 'bigcorp/api_key']) {
      const r = await greentic(['call', WASM, '--manifest', MANIFEST, ...SCOPE, '--op', 'put-foreign', '--input', JSON.stringify({ key })]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'))).toEqual([
        `greentic-host call: node error invalid-argument: secrets-store.put: key ${JSON.stringify(key)} is not a secret name (^[a-z0-9][a-z0-9_-]{0,62}$, or the same in upper case with _)`,
      ]);
    }
    const listed = await greentic(['secrets', 'list', '--tenant', 'bigcorp', '--data', data.dir, '--json']);
    expect(JSON.parse(listed.stdout)).toEqual({ namespace: 'bigcorp/', secrets: ['api_key'] });
  }, 120_000);
});
