import { joinPath, type ConfigProblem } from './problems.js';

/** One piece of a tenant's configuration from one file, already validated and normalised. */
export interface ConfigSource {
  readonly value: Readonly<Record<string, unknown>>;
  /** Where it sits in the merged tree: [] for a whole tenant, ["teams", "support"] for a team file. */
  readonly mount: readonly PropertyKey[];
  readonly file: string;
  /** Its path inside that file ([] for the whole file, ["tenants", "acme"] in bundle.yaml). */
  readonly path: readonly PropertyKey[];
}

/** Where a path of the merged tree was written: its file, and the path inside that file. */
export interface ConfigOrigin {
  readonly file: string;
  readonly path: string;
}

export interface MergedConfig {
  /** The merged tree; every object in it has a null prototype. */
  readonly value: Record<string, unknown>;
  /** The file and path that gave the merged tree's `path`. */
  originOf(path: readonly PropertyKey[]): ConfigOrigin;
  /** Values two sources give differently, reported at the later one. */
  readonly conflicts: readonly ConfigProblem[];
}

/**
 * Merge the pieces that describe one tenant (its bundle.yaml entry, its tenant.yaml, its team
 * files) key by key: maps are merged, anything else given twice must be equal. What the spec
 * shows as three forms of one tenant thus loads as one tenant, and a disagreement is a problem
 * naming both places instead of one silently winning.
 */
export function mergeSources(sources: readonly ConfigSource[], tenant?: string): MergedConfig {
  const root = blank();
  const origins = new Map<string, { src: ConfigSource; at: readonly PropertyKey[] }>();
  const conflicts: ConfigProblem[] = [];
  const originOf = (path: readonly PropertyKey[]): ConfigOrigin => {
    for (let i = path.length; i >= 0; i--) {
      const hit = origins.get(JSON.stringify(path.slice(0, i).map(String)));
      if (hit) return { file: hit.src.file, path: joinPath([...hit.src.path, ...hit.at, ...path.slice(i)]) };
    }
    const first = sources[0];
    return { file: first?.file ?? '', path: joinPath([...(first?.path ?? []), ...path]) };
  };
  const record = (path: readonly PropertyKey[], src: ConfigSource, at: readonly PropertyKey[]) => {
    const key = JSON.stringify(path.map(String));
    if (!origins.has(key)) origins.set(key, { src, at });
  };

  const place = (target: Record<string, unknown>, key: string, value: unknown, src: ConfigSource, path: PropertyKey[], at: PropertyKey[]) => {
    if (value === undefined) return;
    if (!Object.hasOwn(target, key)) {
      target[key] = copy(value);
      record(path, src, at);
      return;
    }
    const existing = target[key];
    if (isMap(existing) && isMap(value)) {
      for (const [k, v] of Object.entries(value)) place(existing, k, v, src, [...path, k], [...at, k]);
      return;
    }
    if (sameValue(existing, value)) return;
    const first = originOf(path);
    conflicts.push({
      file: src.file,
      path: joinPath([...src.path, ...at]),
      message: `${shown(value)} here, but ${shown(existing)} in ${first.file}${first.path ? ` at ${first.path}` : ''}; give it once, or the same in both`,
      tenant,
    });
  };

  for (const src of sources) {
    let target = root;
    const mount = src.mount.map(String);
    mount.forEach((seg, i) => {
      if (!Object.hasOwn(target, seg) || !isMap(target[seg])) {
        target[seg] = blank();
        record(mount.slice(0, i + 1), src, []);
      }
      target = target[seg] as Record<string, unknown>;
    });
    for (const [k, v] of Object.entries(src.value)) place(target, k, v, src, [...mount, k], [k]);
  }
  return { value: root, originOf, conflicts };
}

function blank(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy with null-prototype maps, so a key such as "constructor" only ever means what the config wrote. */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (!isMap(v)) return v;
  const out = blank();
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = copy(x);
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
  }
  return false;
}

function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
