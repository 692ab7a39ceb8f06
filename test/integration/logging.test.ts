import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, copyExamples, installTenantComponent, tempDir, writeFiles } from '../support/bundle.js';

const run = promisify(execFile);
const bundle = copyExamples();
const data = tempDir('greentic-logs-');
afterAll(() => {
  bundle.cleanup();
  data.cleanup();
});

const SECRET = 'TOPSECRET-7f3a9c21e4b8d605';
const env = { ...process.env, GREENTIC_LOG_LEVEL: 'debug', GREENTIC_MASTER_KEY: '12'.repeat(32) };

async function cli(args: string[], input?: string): Promise<string> {
  const p = run(process.execPath, [CLI, ...args], { env });
  if (input !== undefined) p.child.stdin!.end(input);
  const { stdout, stderr } = await p;
  return stdout + stderr;
}

describe('a full run, as an operator would see its output', () => {
  it('tags tenant work with its scope and never prints a secret or a token', async () => {
    installTenantComponent(bundle.dir, 'acme', 'prober');
    writeFiles(bundle.dir, {
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {}, staging: {} },
        grants: { components: { reply: null, ask: null, branch: null, prober: null }, secrets: { prober: { names: ['api_key', 'shared_key'] } } },
        api: { keys: [{ alg: 'HS256', secret: 'api_jwt_secret' }] },
      },
      'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'p', nodes: [{ id: 'p', type: 'prober' }] },
    });
    let output = '';
    output += await cli(['secrets', 'set', '--data', data.dir, '--tenant', 'acme', 'api_key'], SECRET);
    output += await cli(['secrets', 'set', '--data', data.dir, '--tenant', 'acme', 'api_jwt_secret'], 'jwt-signing-secret-0123456789abcdef');
    const token = (
      await cli([
        'token',
        'issue',
        '--bundle',
        bundle.dir,
        '--data',
        data.dir,
        '--tenant',
        'acme',
        '--team',
        'sales,support',
        '--env',
        'prod',
        '--scope',
        'read,write',
      ])
    ).trim();

    const serve = spawn(process.execPath, [CLI, 'serve', '--bundle', bundle.dir, '--data', data.dir, '--port', '0'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let served = '';
    serve.stdout.on('data', (d: Buffer) => (served += d.toString()));
    serve.stderr.on('data', (d: Buffer) => (served += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const check = setInterval(() => served.includes('greentic-host ready') && (clearInterval(check), resolve()), 50);
      serve.once('exit', (code) => reject(new Error(`serve exited ${code}: ${served}`)));
    });
    const base = /API (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(served)![1]!;
    const post = (team: string, channel: string, text: string, auth = token) =>
      fetch(`${base}/api/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${auth}`, 'x-tenant-id': 'acme', 'x-team-id': team, 'content-type': 'application/json' },
        body: JSON.stringify({ env: 'prod', channel, user: 'u1', text }),
      });
    // The prober reads the secret (a capability call), a forged ctx is denied, a guest logs.
    const probe = await post(
      'sales',
      'teams',
      JSON.stringify({
        calls: [
          { fn: 'secrets.get', args: ['api_key'] },
          { fn: 'state.get', args: ['x'], ctx: { tenantId: 'bigcorp' } },
          { fn: 'log.write', args: ['info', 'hello from the guest'] },
        ],
      }),
    );
    expect(probe.status).toBe(200);
    expect(JSON.stringify(await probe.json())).toContain(SECRET); // the component may use it...
    expect((await post('support', 'slack', 'hello')).status).toBe(200);
    expect((await post('support', 'slack', 'hi', `${token}x`)).status).toBe(401);
    await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"text":"hi"}',
    });
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
    output += served;

    // ...but the host never prints it, nor the token.
    expect(output).not.toContain(SECRET);
    expect(output).not.toContain(token);
    expect(output).not.toContain(token.split('.')[2]!);

    const lines = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const tenantWork = lines.filter((l) => ['turn', 'guest-log', 'access-denied', 'api-request'].includes(l.event as string));
    expect(new Set(tenantWork.map((l) => l.event))).toEqual(new Set(['turn', 'guest-log', 'access-denied', 'api-request']));
    for (const l of tenantWork) {
      expect(l.tenant_id, JSON.stringify(l)).toMatch(/^(acme|bigcorp)$/);
      expect(l.env_id, JSON.stringify(l)).toBe('prod');
      expect(l.team_id, JSON.stringify(l)).toMatch(/^(sales|support|helpdesk)$/);
      if (l.event !== 'api-request') expect(l.session_id, JSON.stringify(l)).toMatch(/^[sw][0-9a-f]+$/);
    }
    expect(lines.find((l) => l.event === 'access-denied')).toMatchObject({
      tenant_id: 'acme',
      bound_scope: 'acme/prod/sales',
      requested_scope: 'bigcorp/prod/sales',
    });
  });
});
