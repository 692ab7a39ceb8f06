// The host's modules as a graph of their runtime imports (the compiled dist/, where imports of
// types only are gone): no module may reach itself again through its imports, the bus and its
// providers know no flows and no host (the host wires them together, not the other way), and a
// sandbox worker loads no config schema library (zod is ~95 files: it took a worker's start from
// about 160 ms to 280 ms, paid again for every worker a deadline or a crash replaces), and a host
// on the embedded bus, or a command without --nats, loads no NATS client library (about 200 ms
// of every such start: those modules are imported where --nats is given, not at the top).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const IMPORT = /^\s*(?:import|export)\s[^'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Every dist module (path relative to dist/) with the dist modules it imports at run time. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) {
        const text = readFileSync(p, 'utf8');
        const deps = [...text.matchAll(IMPORT)].map((m) => relative(DIST, normalize(join(dirname(p), m[1] ?? m[2]!))));
        g.set(relative(DIST, p), deps);
      }
    }
  };
  walk(DIST);
  return g;
}

/** The strongly connected groups of more than one module (Tarjan), and modules importing themselves. */
function circles(g: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (g.get(v) ?? []).includes(v)) found.push(group.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** `from` and every module it reaches. */
function reach(g: Map<string, string[]>, from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length > 0) {
    const m = todo.pop()!;
    if (seen.has(m) || !g.has(m)) continue;
    seen.add(m);
    todo.push(...g.get(m)!);
  }
  return seen;
}

/** The modules of `set` that import the package `name` themselves. */
const importing = (set: Iterable<string>, name: string) =>
  [...set].filter((m) => new RegExp(`from\\s*['"]${name}(/[^'"]*)?['"]`).test(readFileSync(join(DIST, m), 'utf8')));

describe('the import graph', () => {
  const g = graph();

  it('is read from the whole build', () => {
    expect(g.size).toBeGreaterThan(200);
    expect(g.get('host.js')).toContain('sandbox/pool.js');
  });

  it('has no import circle', () => {
    expect(circles(g)).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    const made = new Map(g);
    made.set('stores/key-id.js', [...(g.get('stores/key-id.js') ?? []), 'stores/secret-store.js']);
    expect(circles(made)).toContainEqual(expect.arrayContaining(['stores/key-id.js', 'stores/secret-store.js']));
  });

  it('keeps the bus and its providers free of flows and of the host', () => {
    const wrong = [...g]
      .filter(([m]) => m.startsWith('messaging/'))
      .flatMap(([m, deps]) => deps.filter((d) => d === 'host.js' || d.startsWith('flow/')).map((d) => `${m} -> ${d}`));
    expect(wrong).toEqual([]);
  });

  it('gives a sandbox worker no zod to load', () => {
    const worker = reach(g, 'sandbox/worker.js');
    expect(worker.size).toBeGreaterThan(30);
    expect(importing(worker, 'zod')).toEqual([]);
    // The check itself sees an import of zod where there is one.
    expect(importing(['tenancy/config/locale.js'], 'zod')).toEqual(['tenancy/config/locale.js']);
  });

  it('gives an embedded host and the commands without --nats no NATS client to load', () => {
    for (const entry of ['host.js', ...['serve', 'send', 'token', 'secrets', 'call', 'data', 'dlq', 'validate'].map((c) => `cli/${c}.js`)]) {
      const modules = reach(g, entry);
      expect(modules.size, entry).toBeGreaterThan(5);
      expect(importing(modules, '@nats-io/[a-z-]+'), entry).toEqual([]);
    }
    // The check sees an import of the NATS client where there is one.
    expect(importing(reach(g, 'messaging/nats/host-parts.js'), '@nats-io/[a-z-]+').length).toBeGreaterThan(3);
  });
});
