import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { idSchema } from '../tenancy/config/schema.js';
import { ConfigError, zodProblems } from '../tenancy/config/problems.js';
import { displayPath, readYamlFile } from '../tenancy/config/yaml-file.js';
import { checkId, InvalidIdError } from '../tenancy/ids.js';
import type { NatsCredentials, NatsOptions } from '../messaging/nats/connection.js';
import { ProviderEndpointsSchema, resolveEndpoints, type ProviderEndpoints } from '../messaging/providers/endpoints.js';
import { redactCredentials } from '../observability/redact.js';
import { UsageError } from './usage.js';

const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/)
  .optional();

/** Who an instance is on NATS; secrets are named by the environment variables holding them. */
const NatsCredentialsSchema = z.strictObject({
  user: z.string().min(1).optional(),
  /** Name of the environment variable holding the password. */
  password_env: envName,
  /** Name of the environment variable holding the token. */
  token_env: envName,
  /** Reply-subject prefix of this instance's user (see the README's NATS permissions). */
  inbox_prefix: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/)
    .optional(),
});

/**
 * One instance's deployment settings (`serve --config FILE`): which bundle, which tenants, which
 * bus and stores. Paths are relative to the file. Command-line flags override it. Credentials
 * are never written here: the file names environment variables that hold them.
 */
export const InstanceConfigSchema = z.strictObject({
  bundle: z.string().min(1).optional(),
  data: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  workers: z.number().int().min(1).max(256).optional(),
  /** "all", or the tenants this instance serves. */
  tenants: z.union([z.literal('all'), z.array(idSchema('tenant')).min(1)]).optional(),
  /** Tenants left to other instances (hybrid deployments). */
  exclude_tenants: z.array(idSchema('tenant')).optional(),
  nats: z
    .strictObject({
      url: z.string().regex(/^(nats|tls):\/\/\S+$/, 'expected nats://host:port'),
      ...NatsCredentialsSchema.shape,
      /** Give up reaching NATS at start after this long (0: keep trying). */
      connect_wait_ms: z.number().int().min(0).max(86_400_000).optional(),
      /** Tenants that are NATS accounts of their own: the credentials of each one's connection. */
      tenants: z.record(idSchema('tenant'), NatsCredentialsSchema).optional(),
    })
    .optional(),
  stores: z.enum(['embedded', 'nats']).optional(),
  ack_wait_ms: z.number().int().min(100).max(3_600_000).optional(),
  max_deliver: z.number().int().min(1).max(100).optional(),
  /** Where the channel providers' APIs are (Slack, Telegram, Bot Framework): the real services unless set. */
  providers: ProviderEndpointsSchema.optional(),
  /** How long a stop waits for in-flight work (ms). */
  drain_timeout_ms: z.number().int().min(0).max(600_000).optional(),
});

/** Everything `serve` needs, after the file and the flags are merged. */
export interface InstanceSettings {
  bundle: string | undefined;
  data: string;
  port: number;
  host: string;
  workers: number | undefined;
  tenants: 'all' | string[];
  excludeTenants: string[];
  nats: NatsOptions | undefined;
  stores: 'embedded' | 'nats' | undefined;
  ackWaitMs: number | undefined;
  maxDeliver: number | undefined;
  providers: ProviderEndpoints | undefined;
  drainTimeoutMs: number | undefined;
}

/** Read `serve --config FILE`; problems are a ConfigError naming file and path. */
export async function readInstanceConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Partial<InstanceSettings>> {
  const doc = await readYamlFile(file);
  if (!doc.ok) throw new ConfigError(doc.problems);
  const parsed = InstanceConfigSchema.safeParse(doc.data);
  if (!parsed.success) throw new ConfigError(zodProblems(displayPath(file), parsed.error.issues));
  const c = parsed.data;
  const base = dirname(resolve(file));
  const secret = (name: string | undefined, path: string) => {
    if (name === undefined) return undefined;
    const v = env[name];
    if (v === undefined || v === '') throw new ConfigError([{ file: displayPath(file), path, message: `environment variable ${name} is not set` }]);
    return v;
  };
  const credentials = (c: z.infer<typeof NatsCredentialsSchema>, path: string): NatsCredentials => ({
    user: c.user,
    password: secret(c.password_env, `${path}.password_env`),
    token: secret(c.token_env, `${path}.token_env`),
    inboxPrefix: c.inbox_prefix,
  });
  return {
    bundle: c.bundle === undefined ? undefined : resolve(base, c.bundle),
    data: c.data === undefined ? undefined : resolve(base, c.data),
    port: c.port,
    host: c.host,
    workers: c.workers,
    tenants: c.tenants,
    excludeTenants: c.exclude_tenants,
    nats: c.nats && {
      url: c.nats.url,
      ...credentials(c.nats, 'nats'),
      connectWaitMs: c.nats.connect_wait_ms,
      tenants:
        c.nats.tenants && new Map(Object.entries(c.nats.tenants).map(([tenant, creds]) => [tenant, credentials(creds, `nats.tenants.${tenant}`)] as const)),
    },
    stores: c.stores,
    ackWaitMs: c.ack_wait_ms,
    maxDeliver: c.max_deliver,
    providers: c.providers && resolveEndpoints(c.providers),
    drainTimeoutMs: c.drain_timeout_ms,
  };
}

/** Parse a comma-separated tenant list flag ("all" allowed when `allowAll`). */
export function tenantListFlag(value: string, flag: string, allowAll: boolean): 'all' | string[] {
  if (allowAll && value === 'all') return 'all';
  try {
    return value.split(',').map((t) => checkId('tenant', t, `--${flag}`));
  } catch (e) {
    if (e instanceof InvalidIdError) throw new UsageError(e.message);
    throw e;
  }
}

/** A NATS URL flag. */
export function natsUrlFlag(value: string): string {
  if (!/^(nats|tls):\/\/\S+$/.test(value))
    throw new UsageError(`--nats must be a URL like nats://127.0.0.1:4222, got ${JSON.stringify(redactCredentials(value))}`);
  return value;
}
