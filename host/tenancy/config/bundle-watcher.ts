import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../observability/logger.js';

/** What changed on disk since the last report: bundle.yaml or the tenants/ folder, and which tenants' folders. */
export interface BundleChange {
  readonly bundle: boolean;
  readonly tenants: ReadonlySet<string>;
}

export interface BundleWatcherOptions {
  readonly root: string;
  readonly tenantsDir: string;
  /** Quiet time after the last event before a change is reported (an editor's save is several events). */
  readonly debounceMs?: number;
  /** Longest a change waits under a steady stream of events. */
  readonly maxWaitMs?: number;
  /** Folders watched at once, over every tenant (each is one inotify watch). */
  readonly maxDirs?: number;
  readonly logger: Logger;
  readonly onChange: (change: BundleChange) => void;
}

const BUNDLE = '\0bundle';
const TENANTS = '\0tenants';

/**
 * Watches a bundle for changes, by events, never by polling: the bundle root (bundle.yaml), the
 * tenants/ folder (tenants added or removed), and each tenant's folders, as the registry lists
 * them (walkTenantFolder: no link is followed, so nothing outside a tenant's folder is
 * watched). Bounded: at most `maxDirs` folders in all, and changes are debounced.
 */
export class BundleWatcher {
  readonly #opts: Required<Omit<BundleWatcherOptions, 'logger' | 'onChange'>> & Pick<BundleWatcherOptions, 'logger' | 'onChange'>;
  readonly #watchers = new Map<string, { watcher: FSWatcher; owner: string }>();
  readonly #limited = new Set<string>();
  #bundle = false;
  readonly #tenants = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #firstAt: number | undefined;
  #closed = false;

  constructor(opts: BundleWatcherOptions) {
    this.#opts = { debounceMs: 300, maxWaitMs: 3000, maxDirs: 4096, ...opts };
    this.#add(opts.root, BUNDLE);
    this.#add(opts.tenantsDir, TENANTS);
  }

  /** Folders watched now. */
  get size(): number {
    return this.#watchers.size;
  }

  /** True when some of `tenant`'s folders are not watched (the bound was reached, or a folder could not be watched). */
  limited(tenant: string): boolean {
    return this.#limited.has(tenant);
  }

  /** Watch exactly `dirs` for `tenant` (its folders as last walked; `truncated` when the walk was cut short). */
  setTenant(tenant: string, dirs: readonly string[], truncated = false): void {
    if (this.#closed) return;
    const wanted = new Set(dirs);
    for (const [dir, w] of this.#watchers) {
      if (w.owner === tenant && !wanted.has(dir)) this.#remove(dir);
    }
    let limited = truncated;
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      if (this.#watchers.size >= this.#opts.maxDirs || !this.#add(dir, tenant)) limited = true;
    }
    if (limited && !this.#limited.has(tenant))
      this.#opts.logger.warn(
        { event: 'watch-limited', tenant_id: tenant, watched: this.#watchers.size, max_dirs: this.#opts.maxDirs },
        'not every folder of the tenant is watched; reload it through the admin API after changing the others',
      );
    if (limited) this.#limited.add(tenant);
    else this.#limited.delete(tenant);
  }

  /** Stop watching `tenant`'s folders. */
  dropTenant(tenant: string): void {
    for (const [dir, w] of this.#watchers) if (w.owner === tenant) this.#remove(dir);
    this.#limited.delete(tenant);
    this.#tenants.delete(tenant);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const dir of [...this.#watchers.keys()]) this.#remove(dir);
  }

  #add(dir: string, owner: string): boolean {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => this.#saw(owner, name));
    } catch {
      return false; // gone, or out of watches (ENOSPC): the next walk tries again
    }
    // A folder removed while watched ends its watcher with an error: the tenant's next reload walks again.
    watcher.on('error', () => {
      this.#remove(dir);
      this.#saw(owner, null);
    });
    this.#watchers.set(dir, { watcher, owner });
    return true;
  }

  #remove(dir: string): void {
    const w = this.#watchers.get(dir);
    if (!w) return;
    this.#watchers.delete(dir);
    try {
      w.watcher.close();
    } catch {
      // already closed
    }
  }

  #saw(owner: string, name: string | Buffer | null): void {
    if (this.#closed) return;
    if (owner === BUNDLE) {
      // In the bundle root only bundle.yaml and tenants/ matter.
      if (name !== null && String(name) !== 'bundle.yaml' && String(name) !== 'tenants') return;
      this.#bundle = true;
    } else if (owner === TENANTS) this.#bundle = true;
    else this.#tenants.add(owner);
    const now = Date.now();
    this.#firstAt ??= now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#opts.debounceMs, this.#firstAt + this.#opts.maxWaitMs - now));
    this.#timer = setTimeout(() => this.#flush(), wait);
    this.#timer.unref();
  }

  #flush(): void {
    const change: BundleChange = { bundle: this.#bundle, tenants: new Set(this.#tenants) };
    this.#bundle = false;
    this.#tenants.clear();
    this.#firstAt = undefined;
    if (this.#closed) return;
    try {
      this.#opts.onChange(change);
    } catch (e) {
      this.#opts.logger.error({ event: 'watch-handler-failed', err: e instanceof Error ? e.message : String(e) }, 'a bundle change could not be handled');
    }
  }
}
