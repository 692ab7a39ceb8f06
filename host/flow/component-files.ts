import { realpath, stat } from 'node:fs/promises';
import type { ComponentEntry } from '../components/catalog.js';
import type { ComponentRegistry, LoadedComponent } from '../components/registry.js';
import { readFileBounded } from '../tenancy/config/config-file.js';

/** What a component file's bytes were refused for (the loader words it into a load error). */
export class ComponentFileError extends Error {
  override readonly name = 'ComponentFileError';
}

/**
 * Component files already loaded, remembered by their identity on disk (device, inode, size,
 * modification and change times) and the digest their manifest pins: a tenant's reload reads
 * and hashes only the components that changed, so reloading one tenant does not hold the event
 * loop (which every other tenant's turns share) for the length of a 12 MB hash per component.
 * The path is still resolved through the entry's confinement every time. Bounded, per host.
 */
export class ComponentFiles {
  readonly #known = new Map<string, Promise<LoadedComponent>>();

  constructor(private readonly max = 512) {}

  /** The component `entry` names, at most `maxBytes` long, read only if it changed since it was last loaded. */
  async load(registry: ComponentRegistry, entry: ComponentEntry, maxBytes: number): Promise<LoadedComponent> {
    const real = entry.confinement
      ? await entry.confinement.resolve(entry.wasmPath)
      : { ok: true as const, real: await realpath(entry.wasmPath).catch(() => '') };
    const st = real.ok && real.real !== '' ? await stat(real.real, { bigint: true }).catch(() => null) : null;
    const key =
      st?.isFile() && st.size <= BigInt(maxBytes)
        ? `${real.ok ? real.real : ''}\n${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}\n${entry.pinnedDigest ?? ''}`
        : undefined;
    const hit = key === undefined ? undefined : this.#known.get(key);
    if (hit) return hit.then((c) => (c.transpiled ? { ...c, transpiled: false } : c));
    const loading = (async () => {
      const read = await readFileBounded(entry.wasmPath, { maxBytes, confinement: entry.confinement });
      if (!read.ok) throw new ComponentFileError(read.problems[0]!.message);
      return registry.loadBytes(read.bytes, entry.wasmPath, entry.pinnedDigest);
    })();
    if (key !== undefined) {
      this.#known.set(key, loading);
      loading.catch(() => this.#known.delete(key));
      if (this.#known.size > this.max) this.#known.delete(this.#known.keys().next().value!);
    }
    return loading;
  }
}
