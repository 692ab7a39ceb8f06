import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminTokenError, adminTokenFromEnv } from '../api/admin-auth.js';
import { TracingConfigError, tracingConfigFromEnv } from '../observability/tracing.js';
import { createHttpServer } from '../api/server.js';
import { GreenticHost } from '../host.js';
import { NatsConnectError } from '../messaging/nats/options.js';
import { NatsSetupError } from '../messaging/nats/options.js';
import { redactCredentials } from '../observability/redact.js';
import { webchatPath } from '../messaging/providers/webchat-cookie.js';
import { createLogger, tenantCapFromEnv, tenantLogCapOf } from '../observability/logger.js';
import { MasterKeyError } from '../stores/master-key.js';
import { DataDirError } from '../stores/storage-problem.js';
import { ConfigError } from '../tenancy/config/problems.js';
import { HttpDrain, stopGracefully } from './graceful-stop.js';
import { natsUrlFlag, readInstanceConfig, tenantListFlag, type InstanceSettings } from './instance-config.js';
import { CommandFailed, count, HELP_FLAG, intFlag, parsingFlags, UsageError, dataDirFlag, type CommandIo } from './usage.js';

export const SERVE_HELP = `Usage: greentic-host serve --bundle DIR [--data DIR] [--port N] [--host ADDR] [options]

Run the host: load the bundle's tenants, flows and components, answer ingress messages on
the bus, and serve every webchat channel over HTTP:
  POST /webchat/{tenant}/{env}/{team}/{channel}/messages   body {"text": "..."}
The session is kept by a cookie valid on that one channel only. Slack, Telegram and Teams
channels take their provider's webhooks at
  POST /ingress/{slack|telegram|teams}/{tenant}/{env}/{team}/{channel}
and their replies are delivered through the provider's API.

Options:
  --bundle DIR        the bundle (workspace) directory      (required, here or in --config)
  --data DIR          sessions, secrets, master key         (default: ./data)
  --port N            HTTP port, 0 for any free one         (default: 8080)
  --host ADDR         address to listen on                  (default: 127.0.0.1)
  --workers N         guest worker threads                  (default: CPU count, at least 2)
  --tenants LIST      tenants this instance serves: "all" or a comma-separated list (default: all)
  --exclude-tenants LIST   tenants left to other instances (hybrid deployments)
  --nats URL          use NATS (JetStream) for messaging, e.g. nats://127.0.0.1:4222; instances
                      serving the same tenants share the work, each message handled once
  --stores KIND       embedded (files under --data) or nats (JetStream KV); default: nats with --nats
  --ack-wait MS       NATS: redeliver an ingress message unacknowledged this long (default 30000)
  --max-deliver N     NATS: attempts at an ingress message before it becomes a dead letter (default 5)
  --nats-wait MS      NATS: give up reaching the server at start after MS (default 0: keep trying,
                      one line per attempt)
  --drain-timeout MS  on stop, how long in-flight turns may take to finish (default 10000)
  --watch, --no-watch reload a tenant when its files change (default: on when NODE_ENV=development,
                      as with npm start; else off: reload with greentic-host reload)
  --config FILE       a YAML file with any of the above (bundle, data, port, host, workers,
                      tenants, exclude_tenants, nats: {url, user, password_env, token_env},
                      stores, ack_wait_ms, max_deliver, nats.connect_wait_ms, nats.tenants,
                      drain_timeout_ms, providers: {slack, telegram, teams} API endpoints);
                      flags win over the file
  -h, --help          this help

With NATS, every instance needs the same master key (GREENTIC_MASTER_KEY) to read secrets.
GREENTIC_ADMIN_TOKEN (or GREENTIC_ADMIN_TOKEN_FILE) turns on the admin API (/admin/v1).
With embedded stores, one instance at a time uses a data directory (its lock,
greentic.lock/, names the holder). Logs are JSON lines on stderr (GREENTIC_LOG_LEVEL, default
info; each tenant at most GREENTIC_LOG_TENANT_LINES lines, default 1000, and
GREENTIC_LOG_TENANT_BYTES bytes, default 524288, per 10 s); progress and the ready line go to
stdout. Stop with Ctrl-C (SIGINT) or SIGTERM: in-flight turns finish first, for at most the
drain timeout (a second signal stops at once), then the process exits.`;

/** `--nats-wait` wins over the file's nats.connect_wait_ms. */
function withNatsWait(nats: InstanceSettings['nats'], wait: number | undefined): InstanceSettings['nats'] {
  return nats && wait !== undefined ? { ...nats, connectWaitMs: wait } : nats;
}

/** What a command built on serve (dev) adds to it. */
export interface ServeHooks {
  /** Called once the host is up, before the ready line; its words go at the end of the ready line. */
  readonly started: (host: GreenticHost) => string;
}

/** `greentic-host serve`; `hooks` let `dev` add its loop to the host serve starts. */
export async function serveCommand(argv: string[], io: CommandIo, signal?: AbortSignal, hooks?: ServeHooks): Promise<number> {
  const { values } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        bundle: { type: 'string' },
        data: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        workers: { type: 'string' },
        tenants: { type: 'string' },
        'exclude-tenants': { type: 'string' },
        nats: { type: 'string' },
        stores: { type: 'string' },
        'ack-wait': { type: 'string' },
        'max-deliver': { type: 'string' },
        'nats-wait': { type: 'string' },
        'drain-timeout': { type: 'string' },
        config: { type: 'string' },
        watch: { type: 'boolean' },
        'no-watch': { type: 'boolean' },
      },
      allowPositionals: false,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(SERVE_HELP);
    return 0;
  }
  if (values.stores !== undefined && values.stores !== 'embedded' && values.stores !== 'nats')
    throw new UsageError(`--stores must be embedded or nats, got ${JSON.stringify(values.stores)}`);
  // Flags first (bad ones are usage errors), then the file, then defaults.
  const fromFlags: Partial<InstanceSettings> = {
    bundle: values.bundle === undefined ? undefined : resolve(values.bundle),
    data: values.data === undefined ? undefined : dataDirFlag(values.data),
    port: intFlag(values.port, 'port', 0, 65535),
    host: values.host,
    workers: intFlag(values.workers, 'workers', 1, 256),
    tenants: values.tenants === undefined ? undefined : tenantListFlag(values.tenants, 'tenants', true),
    excludeTenants: values['exclude-tenants'] === undefined ? undefined : (tenantListFlag(values['exclude-tenants'], 'exclude-tenants', false) as string[]),
    nats: values.nats === undefined ? undefined : { url: natsUrlFlag(values.nats) },
    stores: values.stores as InstanceSettings['stores'],
    ackWaitMs: intFlag(values['ack-wait'], 'ack-wait', 100, 3_600_000),
    maxDeliver: intFlag(values['max-deliver'], 'max-deliver', 1, 100),
    drainTimeoutMs: intFlag(values['drain-timeout'], 'drain-timeout', 0, 600_000),
  };
  const natsWait = intFlag(values['nats-wait'], 'nats-wait', 0, 86_400_000);
  let fromFile: Partial<InstanceSettings> = {};
  if (values.config !== undefined) {
    try {
      fromFile = await readInstanceConfig(values.config);
    } catch (e) {
      if (e instanceof ConfigError) throw new CommandFailed(e.message);
      throw e;
    }
  }
  const pick = <K extends keyof InstanceSettings>(k: K): InstanceSettings[K] | undefined =>
    (fromFlags[k] !== undefined ? fromFlags[k] : fromFile[k]) as InstanceSettings[K] | undefined;
  const settings: InstanceSettings = {
    bundle: pick('bundle'),
    data: pick('data') ?? resolve('data'),
    port: pick('port') ?? 8080,
    host: pick('host') ?? '127.0.0.1',
    workers: pick('workers'),
    tenants: pick('tenants') ?? 'all',
    excludeTenants: pick('excludeTenants') ?? [],
    nats: withNatsWait(fromFlags.nats ? { ...fromFile.nats, ...fromFlags.nats } : fromFile.nats, natsWait),
    stores: pick('stores'),
    ackWaitMs: pick('ackWaitMs'),
    maxDeliver: pick('maxDeliver'),
    providers: fromFile.providers,
    drainTimeoutMs: pick('drainTimeoutMs') ?? 10_000,
  };
  if (!settings.bundle) throw new UsageError('missing --bundle (or bundle: in --config)');
  if (settings.stores === 'nats' && !settings.nats) throw new UsageError('--stores nats needs --nats URL');
  if (values.watch && values['no-watch']) throw new UsageError('--watch and --no-watch contradict each other');
  const watch = values.watch ?? (values['no-watch'] ? false : process.env.NODE_ENV === 'development');
  let adminToken: string | undefined;
  try {
    adminToken = await adminTokenFromEnv();
  } catch (e) {
    if (e instanceof AdminTokenError) throw new CommandFailed(e.message);
    throw e;
  }

  let tracing;
  try {
    tracing = tracingConfigFromEnv();
  } catch (e) {
    if (e instanceof TracingConfigError) throw new CommandFailed(e.message);
    throw e;
  }
  // The URL may carry credentials: only its origin and path are printed.
  if (tracing) io.out(`greentic-host: exporting traces to ${new URL(tracing.endpoint).origin}${new URL(tracing.endpoint).pathname}`);

  let tenantCap;
  try {
    tenantCap = tenantCapFromEnv();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const logger = createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'info', tenantCap });
  io.out(`greentic-host: loading ${settings.bundle}`);
  let started = false;
  let host: GreenticHost;
  try {
    host = await GreenticHost.start({
      bundleDir: settings.bundle,
      dataDir: settings.data,
      tenants: settings.tenants,
      excludeTenants: settings.excludeTenants,
      workers: settings.workers,
      nats: settings.nats,
      stores: settings.stores,
      ackWaitMs: settings.ackWaitMs,
      maxDeliver: settings.maxDeliver,
      channels: settings.providers && { endpoints: settings.providers },
      lockDataDir: true,
      tracing,
      logger,
      watch,
      // Under dev, a reload's component lines would bury its one summary line: only the start's are shown.
      onProgress: (line) => {
        if (!hooks || !started) io.out(`  ${line}`);
      },
    });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof NatsConnectError || e instanceof NatsSetupError || e instanceof DataDirError || e instanceof MasterKeyError)
      throw new CommandFailed(e.message);
    throw e;
  }
  const unknown = unknownTenants(host, [...(settings.tenants === 'all' ? [] : settings.tenants), ...settings.excludeTenants]);
  if (unknown.length > 0) {
    await host.close();
    const has = [...host.workspace.tenants.keys()].sort().join(', ') || 'none';
    throw new CommandFailed(
      `--tenants/--exclude-tenants name ${count(unknown.length, 'tenant')} not in the bundle: ${unknown.join(', ')} (its tenants: ${has})`,
    );
  }
  for (const t of settings.tenants === 'all' ? [] : settings.tenants) {
    if (!host.serves(t) && !settings.excludeTenants.includes(t)) io.err(`warning: tenant "${t}" failed to load (see the log, or run validate)`);
  }
  if (host.problems.length > 0) {
    io.err(`warning: ${count(host.problems.length, 'configuration problem')}; affected tenants or channels are unavailable (see the log, or run validate)`);
  }

  const app = await createHttpServer(host, { metricsToken: process.env.GREENTIC_METRICS_TOKEN || undefined, adminToken });
  const drain = new HttpDrain(app.server);
  let url: string;
  try {
    url = await app.listen({ port: settings.port, host: settings.host });
  } catch (e) {
    await host.close();
    throw new CommandFailed(`cannot listen on ${settings.host}:${settings.port}: ${(e as Error).message}`);
  }
  const webchats: string[] = [];
  const webhooks: string[] = [];
  let channels = 0;
  for (const rt of host.runtimes.values()) {
    for (const team of rt.model.teams.values()) {
      for (const ch of team.channels.values()) {
        channels++;
        if (host.channels.providers.get(ch.provider)) {
          for (const env of team.envs) webhooks.push(`${url}/ingress/${ch.provider}/${rt.model.id}/${env}/${team.id}/${ch.id}`);
        }
        if (ch.provider !== 'webchat') continue;
        for (const env of team.envs) webchats.push(`${url}${webchatPath({ tenant: rt.model.id, env, team: team.id, channel: ch.id })}`);
      }
    }
  }
  // The first signal starts a graceful stop; a second one cuts the drain short. Listening
  // before the ready line: a supervisor may signal the moment it reads it.
  let hurry!: () => void;
  const hurried = new Promise<void>((r) => (hurry = r));
  const stopAsked = new Promise<void>((done) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', hurry);
      process.once('SIGTERM', hurry);
      done();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    signal?.addEventListener('abort', onSignal, { once: true });
  });
  started = true;
  const note = hooks ? `, ${hooks.started(host)}` : '';
  const bus = settings.nats ? `NATS ${redactCredentials(settings.nats.url)}` : 'embedded bus';
  const stores = (settings.stores ?? (settings.nats ? 'nats' : 'embedded')) === 'nats' ? 'NATS KV stores' : `data in ${settings.data}`;
  io.out(
    `greentic-host ready: ${count(host.runtimes.size, 'tenant')} (${[...host.runtimes.keys()].join(', ') || 'none'}), ${count(channels, 'channel')}, ${bus}, ${stores}; ` +
      `API ${url}/api/v1 (OpenAPI at /api/v1/openapi.json), metrics ${url}/metrics${adminToken ? `, admin ${url}/admin/v1` : ''}${watch ? ', watching the bundle' : ''}${note}` +
      `${webchats.length > 0 ? `; webchat: ${webchats[0]}` : ''}`,
  );
  for (const w of webchats.slice(1)) io.out(`  webchat: ${w}`);
  for (const w of webhooks) io.out(`  webhook: ${w}`);

  await stopAsked;
  const drainMs = settings.drainTimeoutMs ?? 10_000;
  io.out(`greentic-host: stopping (in-flight turns get up to ${drainMs} ms)`);
  try {
    await stopGracefully({ app, host, drain, drainMs, hurry: hurried, logger });
  } finally {
    process.off('SIGINT', hurry);
    process.off('SIGTERM', hurry);
  }
  tenantLogCapOf(logger)?.flushReports();
  io.out('greentic-host: stopped');
  return 0;
}

/** Tenants named on the command line that the bundle does not have (a tenant whose files are broken is not unknown). */
function unknownTenants(host: GreenticHost, named: readonly string[]): string[] {
  return [...new Set(named)].filter((t) => !host.workspace.tenants.has(t) && !host.problems.some((p) => p.tenant === t));
}
