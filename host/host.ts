import { performance } from 'node:perf_hooks';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import type { BuiltinLocation } from './components/catalog.js';
import { ComponentRegistry } from './components/registry.js';
import { HttpClientService } from './capabilities/http-client/client.js';
import type { OutgoingMessage, ScopeServices } from './capabilities/scope.js';
import { FlowExecutor, TurnError } from './flow/executor.js';
import type { TenantRuntime } from './flow/runtime.js';
import { TenantRegistry } from './flow/tenant-registry.js';
import { UnhandleableMessageError, type BusMessage, type MessageBus } from './messaging/bus.js';
import { ChannelMetrics } from './messaging/channel-metrics.js';
import { EgressService } from './messaging/egress/service.js';
import { EmbeddedBus } from './messaging/embedded-bus.js';
import { ChannelProviders, type ChannelProvidersOptions } from './messaging/providers/registry.js';
import { natsUser, NatsConnectError, type NatsOptions } from './messaging/nats/options.js';
import { answerId } from './messaging/nats/headers.js';
import { keepUnhandled, type DeadLetterStore } from './stores/dead-letters.js';
import { FileDeadLetterStore } from './stores/file-dead-letters.js';
import type { SessionKey } from './stores/keys.js';
import { decodeJson, encodeJson, IngressSchema, type EgressMessage, type IngressMessage, type ReplyTo } from './messaging/envelope.js';
import { egressSubject, parseChannelSubject, SubjectError, type ChannelAddress } from './messaging/subjects.js';
import { createLogger, tenantLogCapOf, type Logger } from './observability/logger.js';
import { HostMetrics } from './observability/metrics.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR, DEFAULT_CACHE_DIR } from './paths.js';
import { NodeError } from './sandbox/errors.js';
import { tenantSandbox, WorkerPool } from './sandbox/pool.js';
import { openDataDir } from './stores/data-dir.js';
import type { DataDirLock } from './stores/data-dir-lock.js';
import { loadMasterKey } from './stores/master-key.js';
import { FileSecretStore, type SecretStore } from './stores/secret-store.js';
import { FileSessionStore, type FileSessionStoreOptions } from './stores/file-session-store.js';
import { SessionTooLargeError } from './stores/session-codec.js';
import { CorruptSessionError, type SessionStore } from './stores/session-store.js';
import { StoreUnavailableError } from './stores/storage-problem.js';
import type { StoreHealthReport } from './stores/store-health.js';
import { settlesWithin } from './util/settles-within.js';
import type { ConfigProblem } from './tenancy/config/problems.js';
import { findChannel, type Workspace } from './tenancy/model.js';
import { startDataLife } from './data/data-life.js';
import type { DataEventSink } from './data/data-events.js';
import type { SessionExpiry } from './stores/session-expiry.js';
import type { TenantData } from './data/tenant-data.js';
import { AuditTrail, type AuditTrailOptions } from './audit/audit-trail.js';
import { dataEventRecord, denialRecord, tenantEventRecord } from './audit/host-events.js';
import { FileAuditStore, type FileAuditStoreOptions } from './audit/file-audit-store.js';
import type { DenialEvent } from './observability/metrics.js';
import { NO_TRACING, startTracing, type Tracing, type TracingConfig, type TurnSpan } from './observability/tracing.js';

export interface HostOptions {
  readonly bundleDir: string;
  /** Sessions, secrets and the master key file live here. */
  readonly dataDir: string;
  /** Transpiled component cache; shared with build.mjs by default. */
  readonly cacheDir?: string;
  readonly logger?: Logger;
  /** The message bus; an embedded one when omitted. */
  readonly bus?: MessageBus;
  /** Guest workers (plus one warm spare unless `spare` is false). */
  readonly workers?: number;
  readonly spare?: boolean;
  /** Tenants this instance answers for: every configured tenant, or a list (the deployment model). */
  readonly tenants?: 'all' | readonly string[];
  /** Tenants this instance leaves to others, whatever `tenants` says (hybrid deployments). */
  readonly excludeTenants?: readonly string[];
  /** Use NATS: the bus, and (unless `stores` says otherwise) the KV stores. */
  readonly nats?: NatsOptions;
  /** Where sessions and secrets live: files under dataDir, or NATS KV. Default: nats when `nats` is set. */
  readonly stores?: 'embedded' | 'nats';
  /** NATS only: how long a delivered ingress message may stay unacknowledged before redelivery. */
  readonly ackWaitMs?: number;
  /** NATS only: attempts at handling an ingress message before it becomes a dead letter. */
  readonly maxDeliver?: number;
  /** Where the providers' APIs are (operator settings; the real services by default). */
  readonly channels?: ChannelProvidersOptions;
  readonly builtins?: BuiltinLocation;
  /** Hold the data directory's lock file while running, so no second instance uses it (serve, with embedded stores). */
  readonly lockDataDir?: boolean;
  /** Tuning of the embedded session store (tests: small caches, a faulty file system). */
  readonly sessionStore?: Omit<FileSessionStoreOptions, 'logger' | 'metrics'>;
  /** One line per slow step (component loads), for the CLI's progress output. */
  readonly onProgress?: (line: string) => void;
  /** Told of every export, erasure and expiry of stored conversations (where an audit log hooks in). */
  readonly onDataEvent?: DataEventSink;
  /** The pace of the session expiry sweep (sessions examined per tick, ms between ticks). */
  readonly expiry?: { readonly perTick?: number; readonly intervalMs?: number };
  /** The audit log's bounds: denials recorded per tenant per window, segment size and count (embedded). */
  readonly audit?: Pick<AuditTrailOptions, 'denialsPerWindow' | 'windowMs' | 'maxPending'> & FileAuditStoreOptions;
  /** Export OpenTelemetry traces of turns and node calls (OTLP/HTTP); off when omitted (see tracingConfigFromEnv). */
  readonly tracing?: TracingConfig;
  /** Watch the bundle and reload a tenant whose files change (see TenantRegistry.watch). */
  readonly watch?: boolean | { readonly debounceMs?: number; readonly maxDirs?: number };
}

/** The channel providers of a host: their webhooks' and deliveries' shared parts, and the egress service. */
export interface HostChannels {
  readonly providers: ChannelProviders;
  readonly metrics: ChannelMetrics;
  readonly egress: EgressService;
}

/**
 * One running host: the workspace and its tenants, the worker pool, the stores, and the
 * ingress subscription. Everything is per instance; nothing lives at module level.
 */
export class GreenticHost {
  readonly #ownsBus: boolean;
  readonly #masterKey: Buffer;
  readonly #lock: DataDirLock | undefined;
  #accepting = true;
  #closing: Promise<void> | undefined;
  #dataLife: { data: TenantData; expiry: SessionExpiry } | undefined;
  #audit: AuditTrail | undefined;
  #stopAudit: (() => void) | undefined;
  /** Traces of turns: NO_TRACING unless HostOptions.tracing is set. */
  tracing: Tracing = NO_TRACING;
  readonly #sessionsRemoved = new Set<(keys: readonly SessionKey[]) => void>();

  private constructor(
    /** The tenants, each reloaded, added and removed on its own while the host runs. */
    readonly tenants: TenantRegistry,
    readonly bus: MessageBus,
    readonly pool: WorkerPool,
    readonly sessions: SessionStore,
    readonly secrets: SecretStore,
    readonly executor: FlowExecutor,
    readonly logger: Logger,
    readonly metrics: HostMetrics,
    /** Messages that could not be handled, per tenant (NATS: a stream per tenant; embedded: files under dataDir). */
    readonly deadLetters: DeadLetterStore,
    ownsBus: boolean,
    masterKey: Buffer,
    /** Provider webhooks and the delivery of their replies. */
    readonly channels: HostChannels,
    lock: DataDirLock | undefined,
  ) {
    this.#ownsBus = ownsBus;
    this.#masterKey = masterKey;
    this.#lock = lock;
  }

  /** The bundle as it is now (tenants change as they are reloaded). */
  get workspace(): Workspace {
    return this.tenants.workspace;
  }

  /** The served tenants' runtimes, as they are now. */
  get runtimes(): ReadonlyMap<string, TenantRuntime> {
    return this.tenants.runtimes;
  }

  /** Every configuration problem now: the bundle's and each tenant's. */
  get problems(): readonly ConfigProblem[] {
    return this.tenants.problems;
  }

  /** A key for one purpose derived from the master key (the master key itself never leaves). */
  subkey(purpose: string): Buffer {
    return createHmac('sha256', this.#masterKey).update(`greentic-host ${purpose}`).digest();
  }

  /** Export and erasure of the tenants' stored conversations. */
  get data(): TenantData {
    return this.#dataLife!.data;
  }

  /** Each tenant's audit log (README, "Audit log"): written in the background, read by GET /api/v1/audit. */
  get audit(): AuditTrail {
    return this.#audit!;
  }

  /** The background sweep removing expired sessions. */
  get expiry(): SessionExpiry {
    return this.#dataLife!.expiry;
  }

  /** Load the bundle, its tenants and components, start the workers, and subscribe to ingress. */
  static async start(opts: HostOptions): Promise<GreenticHost> {
    const logger = opts.logger ?? createLogger();
    const stores = opts.stores ?? (opts.nats ? 'nats' : 'embedded');
    // First: a read-only or foreign data dir is one clear line, not an ENOENT from deep inside, and a
    // second instance stops before loading anything.
    const lock = stores === 'embedded' ? await openDataDir(opts.dataDir, { lock: opts.lockDataDir ?? false, logger }) : undefined;
    try {
      return await GreenticHost.#start(opts, logger, stores, lock);
    } catch (e) {
      await lock?.release();
      throw e;
    }
  }

  static async #start(opts: HostOptions, logger: Logger, stores: 'embedded' | 'nats', lock: DataDirLock | undefined): Promise<GreenticHost> {
    const metrics = new HostMetrics();
    const logCap = tenantLogCapOf(logger);
    if (logCap) metrics.trackLogDrops(() => logCap.droppedTotals());
    // The master key first: a start without a usable one ends before any worker is made.
    const masterKey = await loadMasterKey(join(opts.dataDir, 'master.key'));
    // Then the workers, which boot (~160 ms each) while this thread reads the configuration;
    // they must be up before the tenants load, since a Greentic component is described in the
    // sandbox when it loads. Their callbacks read the tenants once a job runs, never before.
    let served: TenantRegistry | undefined;
    const pool = new WorkerPool({
      logger,
      size: opts.workers,
      spare: opts.spare,
      tenantConcurrency: (t) => served?.runtimes.get(t)?.model.settings.concurrency,
      tenantRate: (t) => served?.runtimes.get(t)?.model.settings.ratePerSec,
      sandbox: (t) => tenantSandbox(served?.workspace.tenants.get(t)?.settings),
      onWorkerExit: (t, tier) => metrics.workerCrashes.inc({ tenant: t ?? '', tier }),
    });
    const poolStarted = pool.start();
    poolStarted.catch(() => undefined); // awaited below; a failure is not left unhandled meanwhile
    // A start that fails before the host exists leaves no worker behind.
    const stopPool = async (e: unknown): Promise<never> => {
      await poolStarted.catch(() => undefined);
      await pool.close().catch(() => undefined);
      throw e;
    };
    const tenants = await TenantRegistry.open({
      ...opts,
      builtins: opts.builtins ?? { sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR },
      registry: new ComponentRegistry(opts.cacheDir ?? DEFAULT_CACHE_DIR),
      logger,
      metrics: metrics.registry,
    }).catch(stopPool);
    served = tenants;
    const runtimes = tenants.runtimes;

    // NATS first: an unreachable server is waited for (a line per attempt), one without JetStream ends the start here.
    const nats = opts.nats && !opts.bus ? await import('./messaging/nats/host-parts.js') : undefined;
    const links = opts.nats && nats ? await nats.NatsLinks.connect(opts.nats, logger, opts.onProgress).catch(stopPool) : undefined;
    if (stores === 'nats' && !links) await stopPool(new NatsConnectError('stores: nats needs a NATS connection (--nats URL)'));
    const stopLinks = async (e: unknown): Promise<never> => {
      await links?.close();
      return stopPool(e);
    };
    const sessions: SessionStore = await (
      stores === 'nats' ? nats!.NatsSessionStore.open(links!) : FileSessionStore.open(opts.dataDir, { ...opts.sessionStore, logger, metrics })
    ).catch(stopLinks);
    const secrets: SecretStore =
      stores === 'nats' ? await nats!.NatsSecretStore.open(links!, masterKey).catch(stopLinks) : new FileSecretStore(opts.dataDir, masterKey);
    const audit = new AuditTrail({
      ...opts.audit,
      store: stores === 'nats' ? new nats!.NatsAuditStore(links!) : new FileAuditStore(opts.dataDir, opts.audit),
      logger,
      metrics: metrics.registry,
    });
    const denials = {
      recordDenial: (e: DenialEvent) => {
        metrics.recordDenial(e);
        audit.record(denialRecord(e));
      },
    };
    // One HTTP client per host: it holds each tenant's request-rate bucket (greentic:http/http-client).
    const services: ScopeServices = { secrets, logger, metrics: denials, http: new HttpClientService(), audit };
    await poolStarted.catch(async (e: unknown) => {
      await sessions.close().catch(() => undefined);
      return stopLinks(e);
    });
    metrics.trackLiveInstances(() => pool.liveInstances());
    // Nothing may keep the process alive after a failed start: workers and connections go.
    const abandon = async (e: unknown): Promise<never> => {
      await pool.close().catch(() => undefined);
      await sessions.close().catch(() => undefined);
      await links?.close();
      throw e;
    };
    try {
      await tenants.start(pool);
    } catch (e) {
      await abandon(e);
    }

    const natsBus = links
      ? await nats!.NatsBus.forHost(
          links,
          [...runtimes.keys()],
          logger,
          { ackWaitMs: opts.ackWaitMs, maxDeliver: opts.maxDeliver, who: natsUser(opts.nats) },
          opts.onProgress,
        ).catch(abandon)
      : undefined;
    // A master key other than the one the secrets are sealed with stops the start (one clear line).
    await secrets.checkMasterKey?.([...runtimes.keys()]).catch(abandon);
    const fileLetters = links ? undefined : new FileDeadLetterStore(opts.dataDir);
    const bus =
      opts.bus ??
      natsBus ??
      new EmbeddedBus((err, msg) => {
        if (err instanceof UnhandleableMessageError && fileLetters) void keepUnhandled(fileLetters, logger, err, msg);
        else logger.error({ event: 'bus-handler-error', subject: msg.subject, err: String(err) }, 'bus handler failed');
      });
    const deadLetters = natsBus?.deadLetters ?? fileLetters!;
    const providers = new ChannelProviders(secrets, opts.channels);
    const channelMetrics = new ChannelMetrics(metrics.registry);
    const egress = await EgressService.start({
      workspace: tenants.workspace,
      tenants: [...runtimes.keys()],
      providers,
      deadLetters,
      logger,
      metrics: channelMetrics,
      ackWaitMs: opts.ackWaitMs,
      source: natsBus ? { kind: 'nats', links: natsBus.links, who: natsUser(opts.nats) ?? 'this NATS user' } : { kind: 'embedded', bus, dataDir: opts.dataDir },
    }).catch(async (e: unknown) => {
      providers.close();
      if (!opts.bus) await bus.close().catch(() => undefined);
      return abandon(e);
    });
    const host = new GreenticHost(
      tenants,
      bus,
      pool,
      sessions,
      secrets,
      new FlowExecutor({ sessions, pool, services, metrics }),
      logger,
      metrics,
      deadLetters,
      !opts.bus,
      masterKey,
      { providers, metrics: channelMetrics, egress },
      lock,
    );
    host.#dataLife = startDataLife({
      sessions,
      secrets,
      deadLetters: host.deadLetters,
      tenants: tenants.workspace.tenants,
      runtimes,
      wipe: stores === 'nats' ? new nats!.NatsTenantWipe(links!) : undefined,
      dataDir: opts.dataDir,
      logger,
      metrics,
      onEvent: (e) => {
        const r = dataEventRecord(e);
        if (r) audit.record(r);
        opts.onDataEvent?.(e);
      },
      onSessionsRemoved: (keys) => host.#tellRemoved(keys),
      expiry: opts.expiry,
    });
    host.#audit = audit;
    host.tracing = await startTracing(opts.tracing);
    warmMessagePath();
    host.#stopAudit = tenants.on((e) => {
      const r = tenantEventRecord(e);
      if (r) audit.record(r);
    });
    try {
      // One subscription per tenant, so that a tenant added or removed at run time gets or loses its own.
      await tenants.attach({
        subscribe: (tenant) => bus.consumeIngress([tenant], (m) => host.handleIngress(m)),
        retire: (tenant) => bus.retireIngress(tenant),
      });
    } catch (e) {
      await host.close().catch(() => undefined);
      throw e;
    }
    // A tenant added, or changed to have a provider channel, at run time gets its replies delivered; one removed stops.
    tenants.on((e) => {
      if (e.kind !== 'reload' || host.#closing) return;
      const { tenant, outcome } = e.report;
      if (outcome === 'removed') egress.retire(tenant);
      else if (outcome === 'added' || outcome === 'loaded' || outcome === 'reloaded') {
        egress
          .serve(tenant)
          .catch((err: unknown) =>
            logger.error(
              { event: 'egress-intake-failed', tenant_id: tenant, err: String(err) },
              "the tenant's replies to providers could not be taken in; they wait for the next start",
            ),
          );
      }
    });
    if (opts.watch) tenants.watch(opts.watch === true ? {} : opts.watch);
    return host;
  }

  /** True from start until stopping begins, while the stores can save: the instance takes messages for its tenants. */
  get ready(): boolean {
    return this.readiness().ready;
  }

  /**
   * Ready or not, and why not as a reason code that names no tenant: `stopping`, or the storage
   * problem (`disk-full`, `read-only`, `no-permission`, `io-error`, `missing`, `too-many-open-files`, `backlog`).
   */
  readiness(): { ready: boolean; reason?: string } {
    if (!this.#accepting) return { ready: false, reason: 'stopping' };
    const storage = this.storageHealth();
    if (storage && !storage.ok) return { ready: false, reason: storage.problem ?? 'storage' };
    return { ready: true };
  }

  /** The session store's health (null for a backend that does not report one), for the admin API. */
  storageHealth(): StoreHealthReport | null {
    return this.sessions.health?.() ?? null;
  }

  /** Stop being ready (readyz answers 503) while in-flight work finishes; close() follows. */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** True when this instance answers for `tenant`. */
  serves(tenant: string): boolean {
    return this.runtimes.has(tenant);
  }

  /**
   * Handle one ingress message: the scope comes from the subject alone and must name a
   * configured channel; the body says who and what. Replies and the turn's end (or its
   * error) go to egress.
   */
  async handleIngress(m: BusMessage): Promise<void> {
    let address: ChannelAddress;
    try {
      const parsed = parseChannelSubject(m.subject);
      if (parsed.direction !== 'ingress') return;
      address = parsed.address;
    } catch (e) {
      if (!(e instanceof SubjectError)) throw e;
      this.logger.warn({ event: 'bad-subject', reason: e.message }, 'dropped a message on a malformed subject');
      return;
    }
    const runtime = this.runtimes.get(address.tenant);
    if (!runtime) {
      // Another instance's tenant (hybrid deployments) or no tenant at all: not ours to answer.
      this.logger.debug({ event: 'not-served', tenant_id: address.tenant }, 'ingress for a tenant this instance does not serve');
      return;
    }
    const fields = { tenant_id: address.tenant, env_id: address.env, team_id: address.team, channel: address.channel };
    // The child logger is made only if the turn logs at a level that is on.
    let child: Logger | undefined;
    const log = (): Logger => (child ??= this.logger.child(fields));
    const decoded = decodeJson(m.data);
    const body = decoded.ok ? IngressSchema.safeParse(decoded.value) : undefined;
    const claimed = decoded.ok ? (decoded.value as { id?: unknown } | null)?.id : undefined;
    // The id the answer goes out under: the sender's when it is valid, else one derived from the bytes
    // (an id is attacker-controlled; it must never reach a header unchecked).
    const idGuess = answerId(claimed, m.data);
    const userGuess =
      decoded.ok && typeof (decoded.value as { user?: unknown })?.user === 'string' ? String((decoded.value as { user: string }).user).slice(0, 64) : 'unknown';
    const found = findChannel(this.workspace, address.tenant, address.env, address.team, address.channel);
    if (!found.ok) {
      log().warn({ event: 'unknown-channel', reason: found.reason }, 'ingress for a channel that is not configured');
      await this.#publishError(address, idGuess, null, userGuess, 'unknown-channel', found.reason, false);
      return;
    }
    if (!body?.success) {
      const reason = !decoded.ok ? decoded.error : body!.error!.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      log().warn({ event: 'bad-ingress', reason }, 'rejected a malformed ingress message');
      await this.#publishError(address, idGuess, null, userGuess, 'invalid-message', `ingress message rejected: ${reason}`, false);
      throw new UnhandleableMessageError('invalid-message', `ingress message rejected: ${reason}`);
    }
    const msg = body.data;
    const t0 = performance.now();
    // Tracing off: one property read. On: a turn span continuing the publisher's trace (its traceparent header).
    const span = this.tracing.enabled ? this.tracing.startTurn(address, m.traceparent) : undefined;
    try {
      await this.#runTurn(m, address, msg, runtime, span, log, t0);
      // Ends it unless a failure ended it with its code already.
      span?.end();
    } catch (e) {
      span?.end(e instanceof UnhandleableMessageError ? e.reason : 'internal');
      throw e;
    }
  }

  async #runTurn(
    m: BusMessage,
    address: ChannelAddress,
    msg: IngressMessage,
    runtime: TenantRuntime,
    span: TurnSpan | undefined,
    log: () => Logger,
    t0: number,
  ): Promise<void> {
    const scopeLabels = { tenant: address.tenant, env: address.env, team: address.team };
    this.metrics.messagesIn.inc({ ...scopeLabels, channel: address.channel });
    try {
      const result = await this.executor.runTurn(runtime, address, msg, span);
      if (result.duplicate) {
        // A redelivery after a crash between saving the session and publishing: publish again
        // (same ids, so the egress stream stores each reply once). Otherwise: answered already.
        if (m.redelivered && result.outbox.length > 0)
          await this.#publishOutbox(address, msg.id, msg.user, result.session, result.outbox, msg.origin?.reply_to, span);
        log().info(
          { event: 'duplicate', message_id: msg.id, session_id: result.session, redelivered: m.redelivered ?? false },
          'message already handled; not answering twice',
        );
        return;
      }
      const replies = await this.#publishOutbox(address, msg.id, msg.user, result.session, result.outbox, msg.origin?.reply_to, span);
      this.metrics.turnSeconds.observe(scopeLabels, (performance.now() - t0) / 1000);
      // Every turn passes here: no child logger is made for a line that would not be written.
      if (this.logger.isLevelEnabled('info')) {
        log().info({ event: 'turn', session_id: result.session, message_id: msg.id, replies, ms: Math.round(performance.now() - t0) }, 'turn done');
      }
    } catch (e) {
      if (e instanceof CorruptSessionError) {
        // It can never succeed while the session is damaged: answer, and keep the message as a dead letter.
        log().error({ event: 'turn-failed', message_id: msg.id, code: 'session-unreadable', err: e.message }, 'the session cannot be read');
        this.metrics.turnErrors.inc({ ...scopeLabels, code: 'session-unreadable' });
        await this.#publishError(
          address,
          msg.id,
          msg.session ?? null,
          msg.user,
          'session-unreadable',
          'the session cannot be read; an operator must delete it',
          false,
        );
        throw new UnhandleableMessageError('corrupt-session', e.message);
      }
      const { code, message, retryable } = describeFailure(e);
      if ((code === 'internal' || code === 'storage-unavailable') && this.bus.redelivers) {
        // A store or the bus failed (an outage?): let the bus deliver the message again rather
        // than answer it with an error; the session was not changed.
        log().warn(
          { event: 'turn-retry', message_id: msg.id, err: e instanceof Error ? e.message : String(e) },
          'turn failed on a host fault; the message will be delivered again',
        );
        throw e;
      }
      if (code === 'internal')
        log().error(
          { event: 'turn-failed', message_id: msg.id, code, err: e instanceof Error ? e.stack : String(e) },
          'turn failed on a host fault; session left unchanged',
        );
      else log().warn({ event: 'turn-failed', message_id: msg.id, code, reason: message }, 'turn failed; session left unchanged');
      this.metrics.turnErrors.inc({ ...scopeLabels, code });
      await this.#publishError(address, msg.id, msg.session ?? null, msg.user, code, message, retryable, span?.traceparent);
      span?.end(code);
    }
  }

  /** Publish a turn's messages, then its end; every egress message has an id derived from the ingress id. */
  async #publishOutbox(
    address: ChannelAddress,
    id: string,
    user: string,
    session: string,
    outbox: readonly OutgoingMessage[],
    replyTo: ReplyTo | undefined,
    span: TurnSpan | undefined,
  ): Promise<number> {
    let seq = 0;
    let replies = 0;
    // Sent back to back and awaited together: one connection keeps them in order, and a turn
    // costs one round trip to the bus, not one per message. If one fails the turn fails and the
    // message is delivered again; the same ids make the stream store each one once.
    const sent: Array<Promise<void>> = [];
    for (const out of outbox) {
      if (out.channel === address.channel) replies++;
      const s = seq++;
      // Only a reply on the channel the message came in on goes back where the provider said.
      const to = out.channel === address.channel && replyTo ? { reply_to: replyTo } : {};
      sent.push(
        this.#publish({ ...address, channel: out.channel }, `${id}:${s}`, span?.traceparent, {
          kind: 'reply',
          in_reply_to: id,
          session,
          user,
          text: out.text,
          seq: s,
          ...to,
          ...(out.rich ? { rich: out.rich } : {}),
        }),
      );
      this.metrics.messagesOut.inc({ tenant: address.tenant, env: address.env, team: address.team, channel: out.channel });
    }
    sent.push(this.#publish(address, `${id}:end`, span?.traceparent, { kind: 'turn-end', in_reply_to: id, session, user, replies }));
    await Promise.all(sent);
    return replies;
  }

  async #publish(address: ChannelAddress, egressId: string, traceparent: string | undefined, body: EgressMessage): Promise<void> {
    await this.bus.publishDurable(egressSubject(address), encodeJson(body), egressId, traceparent === undefined ? undefined : { traceparent });
  }

  async #publishError(
    address: ChannelAddress,
    id: string,
    session: string | null,
    user: string,
    code: string,
    message: string,
    retryable: boolean,
    traceparent?: string,
  ): Promise<void> {
    await this.#publish(address, `${id}:error`, traceparent, { kind: 'error', in_reply_to: id, session, user, code, message, retryable });
  }

  /**
   * Be told of sessions erased or expired (after their deletion), so that figures kept per
   * session elsewhere (the webchat's stored bytes) follow. Returns the function that stops it.
   */
  onSessionsRemoved(listener: (keys: readonly SessionKey[]) => void): () => void {
    this.#sessionsRemoved.add(listener);
    return () => this.#sessionsRemoved.delete(listener);
  }

  #tellRemoved(keys: readonly SessionKey[]): void {
    for (const l of this.#sessionsRemoved) {
      try {
        l(keys);
      } catch (e) {
        this.logger.error({ event: 'sessions-removed-hook-failed', err: String(e) }, 'a listener of removed sessions threw; the removal itself is done');
      }
    }
  }

  /**
   * Stop taking messages, let the ones in flight finish (for at most `drainMs` when given: past
   * it, turns still running fail with a retryable `unavailable` and leave their sessions as they
   * were), stop the workers, close the stores and release the data directory. Idempotent.
   */
  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(opts.drainMs);
    return this.#closing;
  }

  async #close(drainMs: number | undefined): Promise<void> {
    this.#accepting = false;
    // Every tenant's subscription ends at once; a reload under way finishes (or fails with the pool).
    const drained = Promise.all([this.tenants.close(), this.bus.drain()]);
    if (drainMs !== undefined && !(await settlesWithin(drained, drainMs))) {
      this.logger.warn({ event: 'drain-timeout', drain_ms: drainMs }, 'turns still running at the end of the drain time; failing them');
    }
    // Fails whatever still runs; the turns then end at once, and the bus is drained.
    await this.pool.close();
    await drained.catch(() => undefined);
    await this.#dataLife?.expiry.stop();
    // Before the stores and the bus close: the last records (this drain's) still reach the disk or the stream.
    this.#stopAudit?.();
    await this.#audit?.close();
    // Turns are done and their replies taken in: let running deliveries finish, the rest wait on disk or in the stream.
    await this.channels.egress.close();
    this.channels.providers.close();
    await this.sessions.close();
    if (this.#ownsBus) await this.bus.close();
    // The last turns' spans are sent (bounded by the exporter's own timeout), then the exporter stops.
    await this.tracing.close().catch(() => undefined);
    await this.#lock?.release();
  }
}

/** What a failed turn tells the sender. */
function describeFailure(e: unknown): { code: string; message: string; retryable: boolean } {
  if (e instanceof NodeError || e instanceof TurnError) return { code: e.code, message: e.message, retryable: e.retryable };
  if (e instanceof StoreUnavailableError) return { code: e.code, message: e.message, retryable: true };
  if (e instanceof SessionTooLargeError) return { code: 'limit-exceeded', message: e.message, retryable: false };
  return { code: 'internal', message: 'internal error (see the host log)', retryable: true };
}

/**
 * The first run of what every ingress message goes through, made at start instead of in the
 * first turn: zod builds a schema's checks on its first parse (6 ms for IngressSchema, a fifth
 * of a JS guest's first message after a restart, measured on Node 26).
 */
function warmMessagePath(): void {
  IngressSchema.safeParse({ id: 'warm-up', user: 'warm-up', text: 'hello' });
  decodeJson(encodeJson({ kind: 'turn-end', in_reply_to: 'warm-up', session: 'warm-up', user: 'warm-up', replies: 0 } satisfies EgressMessage));
}
