import { join } from 'node:path';
import { ComponentCatalog, type BuiltinLocation } from '../components/catalog.js';
import type { ComponentRegistry } from '../components/registry.js';
import type { BusSubscription } from '../messaging/bus.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerPool } from '../sandbox/pool.js';
import { BundleWatcher, type BundleChange } from '../tenancy/config/bundle-watcher.js';
import { loadTenantModel, readBundleIndex, type BundleIndex } from '../tenancy/config/load.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../tenancy/config/problems.js';
import { configDigest, FileDigests, walkTenantFolder, type TenantFolderWalk } from '../tenancy/config/tenant-files.js';
import type { TenantModel, Workspace } from '../tenancy/model.js';
import type { Registry } from 'prom-client';
import { ComponentFiles } from './component-files.js';
import type { TenantRuntime } from './runtime.js';
import { loadServedTenant, preloadComponents, servesTenant, type DeploymentModel } from './served-tenants.js';
import { ReloadMetrics, tenantVersion, type ReloadReport, type ReloadTrigger, type TenantEvent, type TenantReport } from './tenant-reports.js';
import { TenantSlot, type Candidate } from './tenant-slot.js';

export interface TenantRegistryOptions extends DeploymentModel {
  readonly bundleDir: string;
  readonly builtins: BuiltinLocation;
  readonly registry: ComponentRegistry;
  readonly logger: Logger;
  /** The host's metrics registry; the reload metrics are added to it. */
  readonly metrics: Registry;
  readonly onProgress?: (line: string) => void;
}

/** How an instance subscribes to one tenant's ingress, and forgets it when the tenant leaves the bundle. */
export interface IngressHooks {
  subscribe(tenant: string): Promise<BusSubscription>;
  /** The tenant is gone from the bundle: remove what subscribe set up for it (a JetStream consumer). */
  retire(tenant: string): Promise<void>;
}

/**
 * The tenants of one running host, each loaded, reloaded, added and removed on its own. A
 * reload is validated first; a version with problems never replaces one that is served (the
 * tenant keeps its last good version and the problems are reported); a good one is swapped in
 * at once: `runtimes` and `workspace.tenants` are Maps changed in one step, so a turn that has
 * its runtime finishes on it and the next turn gets the new one. Reloads run one at a time.
 */
export class TenantRegistry {
  /** The runtimes of the tenants this instance serves, by id: a live view. */
  readonly runtimes = new Map<string, TenantRuntime>();
  /** The bundle as it is now; `tenants` holds every tenant whose configuration is loaded. */
  readonly workspace: Workspace;
  readonly #models = new Map<string, TenantModel>();
  readonly #slots = new Map<string, TenantSlot>();
  readonly #files = new ComponentFiles();
  readonly #digests = new FileDigests();
  readonly #listeners = new Set<(e: TenantEvent) => void>();
  readonly #metrics: ReloadMetrics;
  #index: BundleIndex;
  #bundleProblems: readonly ConfigProblem[];
  #pool: WorkerPool | undefined;
  #ingress: IngressHooks | undefined;
  #watcher: BundleWatcher | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(
    private readonly opts: TenantRegistryOptions,
    index: BundleIndex,
    private readonly builtins: ComponentCatalog,
  ) {
    this.#index = index;
    this.#bundleProblems = [...index.problems, ...builtins.problems];
    this.#metrics = new ReloadMetrics(opts.metrics);
    const models = this.#models;
    const self = () => this;
    this.workspace = {
      get name() {
        return self().#index.name;
      },
      get root() {
        return self().#index.root;
      },
      get sharedComponents() {
        return self().#index.shared?.real;
      },
      tenants: models,
      get problems() {
        return self().problems;
      },
    };
  }

  /** Read the bundle and the built-in components; a broken bundle.yaml is a ConfigError. No tenant is loaded yet. */
  static async open(opts: TenantRegistryOptions): Promise<TenantRegistry> {
    const index = await readBundleIndex(opts.bundleDir);
    return new TenantRegistry(opts, index, await ComponentCatalog.load(opts.builtins));
  }

  /** Every problem now: the bundle's, and each tenant's (its served version's and its last refused one's). */
  get problems(): ConfigProblem[] {
    return [...this.#bundleProblems, ...[...this.#slots.values()].flatMap((s) => s.allProblems())];
  }

  /** Load every tenant of the bundle (components compiled and described in `pool`), then get the workers ready for them. */
  async start(pool: WorkerPool): Promise<void> {
    this.#pool = pool;
    for (const id of this.#index.tenantIds) await this.#apply(await this.#candidate(id, undefined, false), 'start');
    await Promise.all([...this.runtimes.values()].map((r) => preloadComponents(pool, r)));
  }

  /** Subscribe every served tenant's ingress, and every one served later; retire a tenant's when it leaves. */
  async attach(hooks: IngressHooks): Promise<void> {
    this.#ingress = hooks;
    for (const id of this.runtimes.keys()) this.#slots.get(id)!.subscription = await hooks.subscribe(id);
  }

  /** Reload one tenant from the bundle as it is now (added if new, removed if gone). */
  reload(tenant: string, trigger: ReloadTrigger = 'admin'): Promise<ReloadReport> {
    return this.#serially(async () => {
      if (!(await this.#readIndex(tenant))) return this.#refusedByBundle(tenant, trigger);
      if (!this.#index.tenantIds.includes(tenant)) return this.#remove(tenant, trigger);
      return this.#apply(await this.#candidate(tenant), trigger);
    });
  }

  /**
   * Bring every tenant in line with the bundle: new ones added, removed ones removed, and those
   * whose files changed reloaded (every one with `force`). A broken bundle.yaml changes nothing.
   */
  reloadAll(trigger: ReloadTrigger = 'admin', force = true): Promise<ReloadReport[]> {
    return this.#serially(async () => {
      if (!(await this.#readIndex())) return [];
      const reports: ReloadReport[] = [];
      for (const id of this.#slots.keys())
        if (!this.#index.tenantIds.includes(id) && !this.#slots.get(id)!.removed) reports.push(await this.#remove(id, trigger));
      for (const id of this.#index.tenantIds) {
        const slot = this.#slots.get(id);
        const walk = await walkTenantFolder(join(this.#index.tenantsDir, id));
        const digest = await this.#configDigest(id, walk);
        if (!force && slot && !slot.removed && slot.configDigest === digest) continue;
        reports.push(await this.#apply(await this.#candidate(id, { walk, digest }), trigger));
      }
      return reports;
    });
  }

  /** Every tenant the bundle defines or that was served, as the admin API lists them. */
  reports(): TenantReport[] {
    return [...this.#slots.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((s) => s.report(this.#watchState(s.id)));
  }

  /** One tenant's report, or undefined when this instance has never known it. */
  report(tenant: string): TenantReport | undefined {
    return this.#slots.get(tenant)?.report(this.#watchState(tenant));
  }

  /** Listen to reloads and admin actions (for audit logs); returns the way to stop. */
  on(listener: (e: TenantEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tell the listeners of an event (the admin API reports its actions through here). */
  emit(event: TenantEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (e) {
        this.opts.logger.error({ event: 'listener-failed', err: e instanceof Error ? e.message : String(e) }, 'a tenant event listener failed');
      }
    }
  }

  /**
   * Watch the bundle: a change to one tenant's files reloads that tenant, bundle.yaml or tenants/
   * bring every tenant in line. With `onChange`, a change is handed to it instead (the dev loop
   * builds changed components first); the folders watched still follow each reload.
   */
  watch(opts: { debounceMs?: number; maxDirs?: number; onChange?: (change: BundleChange) => void } = {}): void {
    if (this.#watcher || this.#closed) return;
    const { onChange, ...bounds } = opts;
    this.#watcher = new BundleWatcher({
      root: this.#index.root,
      tenantsDir: this.#index.tenantsDir,
      ...bounds,
      logger: this.opts.logger,
      onChange:
        onChange ??
        ((change) => {
          if (change.bundle) void this.reloadAll('watch', false);
          for (const t of change.tenants) void this.reload(t, 'watch');
        }),
    });
    for (const slot of this.#slots.values()) if (!slot.removed) this.#watcher.setTenant(slot.id, slot.dirs, slot.truncated);
  }

  /** Stop watching, end every ingress subscription at once (nothing is retired), and let a reload under way finish. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    this.#unsubscribeAll();
    await this.#queue.catch(() => undefined);
    this.#unsubscribeAll();
  }

  #unsubscribeAll(): void {
    for (const slot of this.#slots.values()) {
      slot.subscription?.unsubscribe();
      slot.subscription = undefined;
    }
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => (this.#closed ? Promise.reject(new Error('the host is stopping')) : work()));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #readIndex(tenant?: string): Promise<boolean> {
    try {
      this.#index = await readBundleIndex(this.opts.bundleDir);
      this.#bundleProblems = [...this.#index.problems, ...this.builtins.problems];
      return true;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.#bundleProblems = e.problems;
      for (const p of e.problems) this.opts.logger.error({ event: 'config-problem', tenant_id: tenant }, formatProblem(p));
      return false;
    }
  }

  #refusedByBundle(tenant: string, trigger: ReloadTrigger): ReloadReport {
    const slot = this.#slots.get(tenant);
    const report: ReloadReport = {
      tenant,
      outcome: slot?.served ? 'kept-last-good' : 'failed',
      version: slot?.served?.version ?? null,
      previousVersion: slot?.served?.version ?? null,
      problems: this.#bundleProblems,
    };
    return this.#told(report, trigger);
  }

  async #configDigest(id: string, walk: TenantFolderWalk): Promise<string> {
    const extra = JSON.stringify({ inline: this.#index.inline.get(id) ?? null, shared: this.#index.shared?.real ?? null });
    return configDigest(walk, extra, this.#digests);
  }

  /** Load `id` as the bundle has it now, without changing what is served. */
  async #candidate(id: string, known?: { walk: TenantFolderWalk; digest: string }, preload = true): Promise<Candidate> {
    const walk = known?.walk ?? (await walkTenantFolder(join(this.#index.tenantsDir, id)));
    const digest = known?.digest ?? (await this.#configDigest(id, walk));
    const base = { id, walk, configDigest: digest, served: servesTenant(this.opts, id) };
    const { model, problems } = await loadTenantModel(this.#index, id);
    if (!model || !base.served) return { ...base, model, runtime: undefined, problems, version: tenantVersion(digest, []) };
    const { catalog, problems: catalogProblems } = await this.builtins.withTenant(model);
    const ctx = { registry: this.opts.registry, pool: this.#pool!, logger: this.opts.logger, files: this.#files, onProgress: this.opts.onProgress };
    const loaded = await loadServedTenant(model, catalog, ctx, preload);
    const digests = loaded.runtime ? [...new Set([...loaded.runtime.compiled.values()].map((c) => c.component.digest))] : [];
    return { ...base, model, runtime: loaded.runtime, problems: [...catalogProblems, ...loaded.problems], version: tenantVersion(digest, digests) };
  }

  /** Serve a candidate, or keep what is served and report why not (slot.decide says which). */
  async #apply(c: Candidate, trigger: ReloadTrigger): Promise<ReloadReport> {
    const slot = this.#slots.get(c.id) ?? new TenantSlot(c.id);
    this.#slots.set(c.id, slot);
    const previous = slot.served?.version ?? null;
    const outcome = slot.decide(c, trigger === 'start');
    if (outcome === 'added' || outcome === 'loaded' || outcome === 'reloaded') {
      // The swap: one step, no await between the two Maps.
      this.#models.set(c.id, c.model!);
      if (c.runtime) this.runtimes.set(c.id, c.runtime);
      if (c.served && !slot.subscription && this.#ingress && !this.#closed) {
        try {
          slot.subscription = await this.#ingress.subscribe(c.id);
        } catch (e) {
          this.runtimes.delete(c.id);
          slot.fail(c, [{ file: c.model!.file, path: c.model!.path, message: `its ingress could not be subscribed: ${(e as Error).message}`, tenant: c.id }]);
          return this.#told({ tenant: c.id, outcome: 'failed', version: c.version, previousVersion: previous, problems: slot.allProblems() }, trigger);
        }
      }
    } else if (outcome === 'failed') {
      this.#models.delete(c.id);
      this.runtimes.delete(c.id);
    }
    this.#watcher?.setTenant(c.id, slot.dirs, slot.truncated);
    const version = outcome === 'kept-last-good' || outcome === 'failed' ? c.version : (slot.served?.version ?? c.version);
    return this.#told({ tenant: c.id, outcome, version, previousVersion: previous, problems: c.problems }, trigger);
  }

  /** Stop serving a tenant that left the bundle: its subscription ends, its consumer is retired; its data stays. */
  async #remove(id: string, trigger: ReloadTrigger): Promise<ReloadReport> {
    const slot = this.#slots.get(id);
    if (!slot || slot.removed) return { tenant: id, outcome: 'not-found', version: null, previousVersion: null, problems: [] };
    const previous = slot.served?.version ?? null;
    const wasServed = this.runtimes.has(id);
    slot.subscription?.unsubscribe();
    slot.subscription = undefined;
    this.runtimes.delete(id);
    this.#models.delete(id);
    slot.remove();
    this.#watcher?.dropTenant(id);
    if (wasServed && this.#ingress) {
      await this.#ingress
        .retire(id)
        .catch((e: unknown) =>
          this.opts.logger.warn(
            { event: 'retire-failed', tenant_id: id, err: e instanceof Error ? e.message : String(e) },
            "the removed tenant's ingress could not be retired",
          ),
        );
    }
    return this.#told({ tenant: id, outcome: 'removed', version: null, previousVersion: previous, problems: [] }, trigger);
  }

  #told(report: ReloadReport, trigger: ReloadTrigger): ReloadReport {
    this.#metrics.record(report, trigger, this.#slots.get(report.tenant)?.allProblems().length ?? 0, this.opts.logger);
    this.emit({ kind: 'reload', report, trigger });
    return report;
  }

  #watchState(tenant: string): TenantReport['watch'] {
    if (!this.#watcher) return 'off';
    return this.#watcher.limited(tenant) ? 'partial' : 'on';
  }
}
