import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FolderBuild } from '../components/folder-build.js';
import type { GreenticHost } from '../host.js';
import type { ReloadReport } from '../flow/tenant-reports.js';
import type { BundleChange } from '../tenancy/config/bundle-watcher.js';
import { listFolders } from '../tenancy/config/folder.js';
import { formatProblem } from '../tenancy/config/problems.js';
import { walkTenantFolder } from '../tenancy/config/tenant-files.js';
import { parseYamlText } from '../tenancy/config/yaml-file.js';
import { count } from './usage.js';

/** Builds one component folder into its dist/ (buildComponentFolder with the CLI's caches). */
export type FolderBuilder = (dir: string) => Promise<FolderBuild>;

/** A tenant's component kept as sources: tenants/<tenant>/components/<name>/ whose manifest.yaml names a source. */
interface SourceFolder {
  readonly tenant: string;
  readonly name: string;
  readonly dir: string;
}

/** What rebuilding a tenant's changed components did. */
interface Rebuilt {
  readonly rebuilt: number;
  /** The first component that did not build, and why. */
  readonly failed?: { readonly name: string; readonly message: string };
}

/**
 * `greentic-host dev`'s loop over a running host: on a change to a tenant's files (the registry's
 * watcher, debounced), rebuild the tenant's source components whose files changed, then reload
 * that tenant alone and print one line saying what happened. A component that does not build
 * keeps the tenant on its last good version (nothing is reloaded until it builds). Rounds run
 * one at a time; a round that changes nothing (the build's own dist/ writes) prints nothing,
 * unless the tenant's last line was a problem: then `unchanged` says it is back to what it serves.
 */
export class DevLoop {
  /** Component folder -> the identity of its source files at its last good build. */
  readonly #built = new Map<string, string>();
  /** Tenants whose last line was a problem: their return to the served version is worth a line. */
  readonly #troubled = new Set<string>();
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly tenantsDir: string,
    private readonly build: FolderBuilder,
    private readonly out: (line: string) => void,
  ) {}

  /** Build every tenant's source components (before serving, so each has a dist/); one line each. */
  async buildAll(): Promise<void> {
    for (const tenant of await listFolders(this.tenantsDir)) {
      for (const folder of await this.#sourceFolders(tenant)) {
        const started = performance.now();
        const failed = await this.#buildOne(folder);
        if (failed) this.#printFailure(`${tenant}/${folder.name} did not build`, [failed.message]);
        else this.out(`built ${tenant}/${folder.name} in ${elapsed(started)} ms`);
      }
    }
  }

  /** Handle the bundle's changes from now on (`host` watches with this loop as its change handler). */
  attach(host: GreenticHost, debounceMs?: number): void {
    host.tenants.watch({ ...(debounceMs === undefined ? {} : { debounceMs }), onChange: (change) => this.#enqueue(host, change) });
  }

  /** Wait for the rounds under way (a test, or a stop). */
  settled(): Promise<void> {
    return this.#queue;
  }

  #enqueue(host: GreenticHost, change: BundleChange): void {
    this.#queue = this.#queue.then(() => this.#round(host, change)).catch((e: unknown) => this.out(`dev: ${(e as Error).message}`));
  }

  async #round(host: GreenticHost, change: BundleChange): Promise<void> {
    if (change.bundle) {
      const started = performance.now();
      let rebuilt = 0;
      for (const tenant of await listFolders(this.tenantsDir)) {
        const r = await this.#rebuild(tenant);
        if (r.failed) {
          this.#troubled.add(tenant);
          return this.#printFailure(`${tenant} keeps its last good version: ${r.failed.name} did not build (in ${elapsed(started)} ms)`, [r.failed.message]);
        }
        rebuilt += r.rebuilt;
      }
      for (const report of await host.tenants.reloadAll('watch', false)) this.#print(host, report, rebuilt, started);
    }
    for (const tenant of change.tenants) {
      const started = performance.now();
      const r = await this.#rebuild(tenant);
      if (r.failed) {
        this.#troubled.add(tenant);
        this.#printFailure(`${tenant} keeps its last good version: ${r.failed.name} did not build (in ${elapsed(started)} ms)`, [r.failed.message]);
        continue;
      }
      this.#print(host, await host.tenants.reload(tenant, 'watch'), r.rebuilt, started);
    }
  }

  /** Rebuild `tenant`'s source components whose files changed since their last good build. */
  async #rebuild(tenant: string): Promise<Rebuilt> {
    let rebuilt = 0;
    for (const folder of await this.#sourceFolders(tenant)) {
      if (this.#built.get(folder.dir) === (await sourceIdentity(folder.dir))) continue;
      const failed = await this.#buildOne(folder);
      if (failed) return { rebuilt, failed };
      rebuilt++;
    }
    return { rebuilt };
  }

  async #buildOne(folder: SourceFolder): Promise<{ name: string; message: string } | undefined> {
    const identity = await sourceIdentity(folder.dir);
    try {
      await this.build(folder.dir);
      this.#built.set(folder.dir, identity);
      return undefined;
    } catch (e) {
      return { name: folder.name, message: (e as Error).message };
    }
  }

  async #sourceFolders(tenant: string): Promise<SourceFolder[]> {
    const components = join(this.tenantsDir, tenant, 'components');
    const out: SourceFolder[] = [];
    for (const name of await listFolders(components)) {
      const dir = join(components, name);
      const text = await readFile(join(dir, 'manifest.yaml'), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const doc = parseYamlText(text, 'manifest.yaml');
      const data = doc.ok ? (doc.data as Record<string, unknown> | null) : null;
      // A broken manifest is reported by the reload (the catalog reads it); sources are what name one.
      if (data && typeof data === 'object' && Object.hasOwn(data, 'source') && !Object.hasOwn(data, 'wasm')) out.push({ tenant, name, dir });
    }
    return out;
  }

  #print(host: GreenticHost, r: ReloadReport, rebuilt: number, started: number): void {
    const ms = elapsed(started);
    const flows = host.runtimes.get(r.tenant)?.flows.size ?? 0;
    const what = `(flows: ${flows}, components: ${rebuilt} rebuilt) in ${ms} ms`;
    switch (r.outcome) {
      case 'reloaded':
      case 'added':
        this.#troubled.delete(r.tenant);
        return this.out(`${r.outcome} ${r.tenant} ${what}`);
      case 'unchanged':
        // The build's own writes to dist/ come back as a change: nothing to say unless something
        // was built, or the tenant's last line was a problem (now fixed, back to what it serves).
        if (rebuilt > 0 || this.#troubled.has(r.tenant)) this.out(`unchanged ${r.tenant} ${what}`);
        this.#troubled.delete(r.tenant);
        return;
      case 'removed':
        return this.out(`removed ${r.tenant} (no longer in the bundle; its data is kept)`);
      case 'kept-last-good':
        this.#troubled.add(r.tenant);
        return this.#printFailure(
          `${r.tenant} keeps its last good version: ${count(r.problems.length, 'problem')} (in ${ms} ms)`,
          r.problems.map(formatProblem),
        );
      default:
        this.#troubled.add(r.tenant);
        return this.#printFailure(
          `${r.tenant} ${r.outcome === 'failed' ? 'failed to load' : r.outcome}: ${count(r.problems.length, 'problem')} (in ${ms} ms)`,
          r.problems.map(formatProblem),
        );
    }
  }

  #printFailure(head: string, problems: readonly string[]): void {
    this.out(`${head}:`);
    for (const p of problems) for (const line of p.split('\n')) this.out(`  ${line}`);
  }
}

/** The identity of a component folder's sources: every file but its build (dist/) and installed packages. */
async function sourceIdentity(dir: string): Promise<string> {
  const walk = await walkTenantFolder(dir);
  const hash = createHash('sha256');
  for (const e of walk.entries) {
    if (e.rel === 'dist' || e.rel.startsWith('dist/') || e.rel.startsWith('node_modules/')) continue;
    hash.update(`${e.rel}\0${e.kind === 'file' ? e.identity : `link:${e.target}`}\n`);
  }
  return hash.digest('hex');
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
