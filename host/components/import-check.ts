import type { ComponentManifest } from './manifest.js';

/**
 * What a component's source imports, checked against what its manifest asks for, when it is
 * built: an import the manifest does not cover would only fail later, at `call` or in a flow,
 * as a denied capability. componentize-js gives every component every import of its world, so
 * the check reads the bundled source (esbuild's output), not the binary.
 */

/** The package of greentic-host's own interfaces (capabilities/index.ts has the same; not imported: this runs in the build process). */
const HOST_PACKAGE = 'greentic:host';

/** Imported names per module specifier; '*' when a namespace import (`import * as x`) uses any. */
export type SourceImports = ReadonlyMap<string, ReadonlySet<string> | '*'>;

/**
 * The static imports of an esbuild ESM bundle whose imports of `greentic:*` and `wasi:*` are
 * external: esbuild writes them as plain `import ... from "spec"` statements at the top level.
 */
export function bundleImports(bundle: string): SourceImports {
  const out = new Map<string, Set<string> | '*'>();
  const add = (spec: string, names: string[] | '*') => {
    const had = out.get(spec);
    if (names === '*' || had === '*') out.set(spec, '*');
    else out.set(spec, new Set([...(had ?? []), ...names]));
  };
  for (const m of bundle.matchAll(/^import\s+([^;'"]*?)\s+from\s+["']([^"']+)["'];?$/gm)) {
    const clause = m[1]!;
    const spec = m[2]!;
    if (/\*\s+as\s+/.test(clause)) add(spec, '*');
    const named = /\{([^}]*)\}/.exec(clause)?.[1];
    if (named !== undefined) {
      add(
        spec,
        named
          .split(',')
          .map((n) =>
            n
              .trim()
              .split(/\s+as\s+/)[0]!
              .trim(),
          )
          .filter(Boolean),
      );
    }
  }
  for (const m of bundle.matchAll(/^import\s+["']([^"']+)["'];?$/gm)) add(m[1]!, []);
  return out;
}

/** What each capability function needs from the manifest. */
const NEEDS: Record<string, Record<string, (c: ComponentManifest['capabilities']) => string | null>> = {
  secrets: { get: (c) => (c.secrets.length > 0 ? null : 'capabilities.secrets lists no secret') },
  state: {
    get: (c) => (c.state !== 'none' ? null : 'capabilities.state is none (use read)'),
    listKeys: (c) => (c.state !== 'none' ? null : 'capabilities.state is none (use read)'),
    set: (c) => (c.state === 'write' ? null : `capabilities.state is ${c.state} (use write)`),
    delete: (c) => (c.state === 'write' ? null : `capabilities.state is ${c.state} (use write)`),
  },
  messaging: { send: (c) => (c.messaging ? null : 'capabilities.messaging is false (use true)') },
  log: { write: (c) => (c.log ? null : 'capabilities.log is false (use true)') },
};

/**
 * Each import the manifest does not allow, as "SOURCE imports NAME from SPEC, but MANIFEST:
 * WHY; ... or remove the import". A namespace import is checked as if it used every function.
 */
export function importProblems(imports: SourceImports, manifest: ComponentManifest, source: string, manifestFile: string): string[] {
  const problems: string[] = [];
  for (const [spec, names] of [...imports].sort(([a], [b]) => a.localeCompare(b))) {
    const iface = spec.replace(/@[^@]*$/, '');
    if (iface.startsWith('wasi:')) {
      if (!manifest.capabilities.wasi.includes(iface))
        problems.push(`${source} imports ${spec}, but ${manifestFile} does not request it (capabilities.wasi); add it there, or remove the import`);
      continue;
    }
    if (!iface.startsWith(`${HOST_PACKAGE}/`)) continue;
    const cap = iface.slice(HOST_PACKAGE.length + 1);
    const fns = Object.hasOwn(NEEDS, cap) ? NEEDS[cap]! : undefined;
    if (!fns) {
      if (cap !== 'types' && cap !== 'node') problems.push(`${source} imports ${spec}, which greentic-host does not provide`);
      continue;
    }
    for (const fn of names === '*' ? Object.keys(fns) : [...names].sort()) {
      const need = Object.hasOwn(fns, fn) ? fns[fn]! : undefined;
      if (!need) {
        problems.push(`${source} imports ${fn} from ${spec}, which has no such function (it has: ${Object.keys(fns).join(', ')})`);
        continue;
      }
      const why = need(manifest.capabilities);
      if (why)
        problems.push(
          `${source} imports ${fn} from ${spec}${names === '*' ? ' (import * as)' : ''}, but ${manifestFile}: ${why}; change the manifest, or remove the import`,
        );
    }
  }
  return problems;
}
