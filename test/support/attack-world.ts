import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import type { ChannelAddress } from '../../dist/messaging/subjects.js';
import { WebchatGuard } from '../../dist/messaging/providers/webchat-limits.js';
import { sessionKey } from '../../dist/stores/keys.js';
import { installTenantComponent, tempDir, writeFiles } from './bundle.js';
import { startHost, type TestHost } from './host.js';
import { LeakWatch, newMarker } from './leak-watch.js';
import { sign } from './api.js';

/** The tenants of an attack run: the first two attack each other, the last one only chats (the calm tenant). */
export const TENANTS = ['acme', 'bigcorp', 'cedar'] as const;
export const ATTACKERS = ['acme', 'bigcorp'] as const;
export const CALM = 'cedar';
export type Tenant = (typeof TENANTS)[number];
export const TEAM = 'support';
export const ENV = 'prod';
/** The users a run's generated turns speak as: few, so the sessions a long run makes stay few. */
export const USERS = ['u1', 'u2', 'u3', 'u4'] as const;

export const slack = (tenant: string): ChannelAddress => ({ tenant, env: ENV, team: TEAM, channel: 'slack' });
export const webchat = (tenant: string): ChannelAddress => ({ tenant, env: ENV, team: TEAM, channel: 'webchat' });

/** What each tenant keeps that no other may ever see: its markers, where they are planted, and its credentials. */
export interface TenantVault {
  readonly tenant: Tenant;
  /** The secret value (api_key), the state value and the text of its vault conversations. */
  readonly markers: { secret: string; state: string; transcript: string; webchat: string; apiKey: string };
  /** The vault sessions: a slack one (state and transcript) and a webchat one (transcript). */
  readonly slackSession: string;
  readonly webchatSession: string;
  /** The webchat cookie of its vault session (only this tenant's browser holds it). */
  readonly webchatCookie: string;
  /** A valid read/write token of this tenant for its team. */
  readonly token: string;
}

/** One running attack world: a host with the three tenants over HTTP, and what was planted. */
export interface AttackWorld {
  readonly t: TestHost;
  readonly app: FastifyInstance;
  readonly base: string;
  readonly vaults: ReadonlyMap<Tenant, TenantVault>;
  readonly watch: LeakWatch;
  /** Everything of each tenant's vault as stored, to compare before and after. */
  snapshot(tenant: Tenant): Promise<string>;
  close(): Promise<void>;
}

function tenantConfig(apiSecretName: string) {
  return {
    environments: { [ENV]: {} },
    settings: {
      limits: { deadline_ms: 2000 },
      // Every request of the run comes from 127.0.0.1: the default per-address limit would refuse nearly all.
      webchat: { rate_per_sec: 1e6, burst: 1e6, address_rate_per_sec: 1e6, address_burst: 1e6 },
    },
    grants: { components: { prober: {}, ask: {}, reply: {} }, secrets: { prober: { names: ['api_key', 'shared_key'] } } },
    api: { keys: [{ alg: 'HS256', secret: apiSecretName }] },
    teams: {
      [TEAM]: {
        channels: { slack: { provider: 'slack', flow: 'probe_flow' }, webchat: { provider: 'webchat', flow: 'note_flow', title: 'Notes' } },
      },
    },
  };
}

/** Write the attack bundle: three tenants, each running the scriptable prober on slack and a note-taking flow on webchat. */
function writeBundle(dir: string): void {
  writeFiles(dir, { 'bundle.yaml': { workspace: 'attack', tenants: Object.fromEntries(TENANTS.map((t) => [t, tenantConfig('api_jwt_secret')])) } });
  for (const t of TENANTS) {
    installTenantComponent(dir, t, 'prober');
    writeFiles(dir, {
      // The prober reads its script from the message text and waits for the next one.
      [`tenants/${t}/flows/probe_flow.yaml`]: { name: 'probe_flow', version: '1', start: 'p', nodes: [{ id: 'p', type: 'prober' }] },
      [`tenants/${t}/flows/note_flow.yaml`]: {
        name: 'note_flow',
        version: '1',
        start: 'note',
        nodes: [
          { id: 'note', type: 'ask', config: { save_as: 'note' }, next: 'ack' },
          { id: 'ack', type: 'reply', config: { message: 'noted: {{note}}' }, next: 'note' },
        ],
      },
    });
  }
}

/** Start the world: one host, one HTTP server, each tenant's markers planted in its secrets, state, transcripts and webchat. */
export async function startAttackWorld(): Promise<AttackWorld> {
  const bundle = tempDir('greentic-attack-bundle-');
  writeBundle(bundle.dir);
  const watch = new LeakWatch();
  const t = await startHost({ bundleDir: bundle.dir, logger: watch.logger, workers: 2 });
  if (t.host.problems.length > 0) throw new Error(`attack bundle has problems: ${JSON.stringify(t.host.problems)}`);
  const app = await createHttpServer(t.host, { replyTimeoutMs: 20_000, webchatGuard: new WebchatGuard() });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const vaults = new Map<Tenant, TenantVault>();
  for (const tenant of TENANTS) vaults.set(tenant, await plant(t, base, tenant, watch));
  await t.host.sessions.flush();
  const snapshot = async (tenant: Tenant) => {
    const v = vaults.get(tenant)!;
    const scope = { tenant, env: ENV, team: TEAM };
    const [s, w, secret, key] = await Promise.all([
      t.host.sessions.get(sessionKey(scope, v.slackSession)),
      t.host.sessions.get(sessionKey(scope, v.webchatSession)),
      t.host.secrets.get({ kind: 'tenant', tenant }, 'api_key'),
      t.host.secrets.get({ kind: 'tenant', tenant }, 'api_jwt_secret'),
    ]);
    return JSON.stringify({ slack: s, webchat: w, secret, key });
  };
  return {
    t,
    app,
    base,
    vaults,
    watch,
    snapshot,
    close: async () => {
      await app.close();
      await t.close();
      bundle.cleanup();
    },
  };
}

async function plant(t: TestHost, base: string, tenant: Tenant, watch: LeakWatch): Promise<TenantVault> {
  const markers = {
    secret: newMarker(tenant, 'S'),
    state: newMarker(tenant, 'V'),
    transcript: newMarker(tenant, 'T'),
    webchat: newMarker(tenant, 'W'),
    apiKey: newMarker(tenant, 'K'),
  };
  watch.own(tenant, Object.values(markers));
  await t.host.secrets.set({ kind: 'tenant', tenant }, 'api_key', markers.secret);
  await t.host.secrets.set({ kind: 'tenant', tenant }, 'api_jwt_secret', markers.apiKey);
  const script = { calls: [{ fn: 'state.set', args: ['vault', markers.state] }], replies: [markers.transcript], next: 'wait' };
  // Each tenant's vault user is its own, so no tenant's generated ids name its own vault session.
  const r = await t.say(slack(tenant), `vault-${tenant}`, JSON.stringify(script));
  if (!r.ok) throw new Error(`planting ${tenant}'s state failed: ${r.code}: ${r.message}`);
  const res = await fetch(`${base}/webchat/${tenant}/${ENV}/${TEAM}/webchat/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: markers.webchat }),
  });
  const cookie = res.headers.get('set-cookie')?.split(';')[0];
  const body = (await res.json()) as { session?: string };
  if (res.status !== 200 || !cookie || !body.session) throw new Error(`planting ${tenant}'s webchat failed: ${res.status}`);
  const token = await sign(
    { tenant, teams: [TEAM], envs: [ENV], scope: 'read write', iss: 'greentic-host', aud: 'greentic-api', sub: `${tenant}-user` },
    { key: new TextEncoder().encode(markers.apiKey) },
  );
  watch.own(tenant, [], [token, cookie.slice(cookie.indexOf('=') + 1)]);
  return { tenant, markers, slackSession: r.session, webchatSession: body.session, webchatCookie: cookie, token };
}
