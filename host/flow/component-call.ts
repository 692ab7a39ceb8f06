import { randomBytes } from 'node:crypto';
import { ComponentLoadError, ComponentRegistry } from '../components/registry.js';
import type { ComponentManifest } from '../components/manifest.js';
import { InvocationScope, type OutgoingMessage, type TurnState } from '../capabilities/scope.js';
import type { Logger } from '../observability/logger.js';
import { HostMetrics } from '../observability/metrics.js';
import { WorkerPool } from '../sandbox/pool.js';
import type { NodeOutput } from '../sandbox/protocol.js';
import { sessionKey } from '../stores/keys.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { Permissions } from '../tenancy/grants.js';
import { DEFAULT_LIMITS, type Limits } from '../tenancy/model.js';
import type { TenantScope } from '../tenancy/tenant-ctx.js';
import { checkNodeOutput } from './output.js';
import { importRefusal } from './runtime.js';

export interface SingleCallOptions {
  readonly wasmPath: string;
  /** What the component asks for; every request is granted (the caller is the operator). None when absent. */
  readonly manifest: ComponentManifest | undefined;
  readonly scope: TenantScope;
  readonly user: string;
  readonly session: string;
  readonly channel: string;
  readonly text: string;
  readonly config: Record<string, unknown>;
  readonly state: Record<string, string>;
  readonly resumed: boolean;
  readonly secrets: SecretStore;
  readonly logger: Logger;
  readonly cacheDir: string;
  readonly limits?: Partial<Limits>;
}

export interface SingleCallResult {
  readonly output: NodeOutput;
  readonly outbox: readonly OutgoingMessage[];
  readonly state: Record<string, string>;
  readonly denials: number;
  readonly ms: number;
}

/**
 * Run one component once, in a worker, under a scope: what `greentic-host call` does for plugin
 * authors. The same sandbox, bridge and capability checks as a flow run.
 */
export async function callComponentOnce(opts: SingleCallOptions): Promise<SingleCallResult> {
  const registry = new ComponentRegistry(opts.cacheDir);
  const component = await registry.loadFile(opts.wasmPath);
  const name = opts.manifest?.name ?? 'component';
  const requested = new Set(opts.manifest?.capabilities.wasi ?? []);
  const refusal = importRefusal(name, opts.manifest ?? emptyManifest(name), requested, component, 'the manifest');
  if (refusal) throw new ComponentLoadError(opts.wasmPath, refusal);

  const permissions: Permissions = {
    component: name,
    state: opts.manifest?.capabilities.state ?? 'none',
    messaging: opts.manifest?.capabilities.messaging ?? false,
    log: opts.manifest?.capabilities.log ?? false,
    secrets: new Set(opts.manifest?.capabilities.secrets ?? []),
    globalSecrets: new Set(opts.manifest?.capabilities.secrets ?? []),
    wasi: requested,
    limits: {
      ...DEFAULT_LIMITS,
      deadlineMs: opts.manifest?.limits.deadline_ms ?? DEFAULT_LIMITS.deadlineMs,
      memoryMib: opts.manifest?.limits.memory_mib ?? DEFAULT_LIMITS.memoryMib,
      ...opts.limits,
    },
  };
  const key = sessionKey(opts.scope, opts.session, 'call');
  const turn: TurnState = { working: new Map(Object.entries(opts.state)), outbox: [] };
  const metrics = new HostMetrics();
  const scope = new InvocationScope({
    ctx: {
      tenantId: key.tenant,
      envId: key.env,
      teamId: opts.scope.team,
      sessionId: key.session,
      userId: opts.user,
      traceId: randomBytes(16).toString('hex'),
    },
    session: key,
    channel: opts.channel,
    teamChannels: new Set([opts.channel]),
    permissions,
    flow: 'call',
    node: 'call',
    turn,
    services: { secrets: opts.secrets, logger: opts.logger, metrics },
  });
  const compiled = await registry.compile(component, permissions.limits.memoryMib, opts.wasmPath);
  const pool = new WorkerPool({ logger: opts.logger, size: 1, spare: false });
  await pool.start();
  try {
    const t0 = performance.now();
    const raw = await pool.invoke({
      component: compiled,
      scope,
      input: {
        nodeId: 'call',
        message: { text: opts.text, userId: opts.user, channel: opts.channel },
        config: JSON.stringify(opts.config),
        resumed: opts.resumed,
      },
    });
    const output = checkNodeOutput(raw, scope);
    const ms = performance.now() - t0;
    return { output, outbox: turn.outbox, state: Object.fromEntries(turn.working), denials: metrics.denialCount, ms };
  } finally {
    await pool.close();
  }
}

function emptyManifest(name: string): ComponentManifest {
  return { name, version: '0.0.0', capabilities: { state: 'none', messaging: false, log: false, secrets: [], wasi: [] }, limits: {} };
}
