import { lstat, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** Symbolic links followed while resolving one path, as the kernel's own limit (ELOOP). */
const MAX_LINK_HOPS = 40;

/** A folder paths may lead into: its path as configured, its real path, and how messages name it. */
interface Root {
  readonly lexical: string;
  readonly real: string;
  readonly label: string;
}

/** Where a confined path really is, and which file it was when it was checked. */
export interface ConfinedFile {
  readonly ok: true;
  /** The real path: no symbolic link in it, inside one of the roots. */
  readonly real: string;
  /** Device and inode seen by the check; a read compares them with what it opened. */
  readonly dev: number;
  readonly ino: number;
  readonly isDirectory: boolean;
}

/**
 * Why a path was refused. `outside` never says more than that: not where a link leads, not
 * whether anything is there, so a refusal tells nothing about another tenant's files.
 */
export interface ConfinementRefusal {
  readonly ok: false;
  readonly reason: 'outside' | 'not-found' | 'link-loop';
  readonly message: string;
}

/** True when `path` is `root` or inside it (both absolute and normalised). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The folders a tenant's config may reach: its own (tenants/<id>/) and, for components, the
 * shared components folder the operator declares. Every path is resolved link by link: each
 * symbolic link's target must itself lie inside a root before it is followed, so a path that
 * leaves (by `..`, an absolute path, a link, a chain of links, or a dangling link) is refused
 * before anything outside is touched.
 */
export class Confinement {
  readonly #roots: readonly Root[];

  private constructor(roots: readonly Root[]) {
    this.#roots = roots;
  }

  /** Confine to `folders` (absolute); a folder that does not exist confines to nothing found. */
  static async of(folders: ReadonlyArray<{ readonly path: string; readonly label: string }>): Promise<Confinement> {
    const roots: Root[] = [];
    for (const f of folders) {
      const lexical = resolve(f.path);
      roots.push({ lexical, real: await realpath(lexical).catch(() => lexical), label: f.label });
    }
    return new Confinement(roots);
  }

  /** The same roots plus `other`'s, for paths that may lead into either. */
  with(other: Confinement): Confinement {
    return new Confinement([...this.#roots, ...other.#roots]);
  }

  /** "tenant "acme"'s folder (tenants/acme/) or the shared components folder (shared/)". */
  describe(): string {
    return this.#roots.map((r) => r.label).join(' or ');
  }

  /** Resolve `path` (absolute, or relative to the first root) to a real path inside a root. */
  async resolve(path: string): Promise<ConfinedFile | ConfinementRefusal> {
    let target = resolve(this.#roots[0]?.lexical ?? '/', path);
    let hops = 0;
    for (;;) {
      const root = this.#rootOf(target);
      if (!root) return this.#refuse('outside', `leads outside ${this.describe()}`);
      const base = isInside(root.real, target) ? root.real : root.lexical;
      const segments = relative(base, target)
        .split(sep)
        .filter((s) => s !== '');
      let current = root.real;
      let followed: string | undefined;
      for (let i = 0; i < segments.length; i++) {
        const next = join(current, segments[i]!);
        const st = await lstat(next).catch(() => null);
        if (!st) return this.#refuse('not-found', 'not found');
        if (st.isSymbolicLink()) {
          if (++hops > MAX_LINK_HOPS) return this.#refuse('link-loop', `more than ${MAX_LINK_HOPS} symbolic links`);
          const link = await readlink(next).catch(() => null);
          if (link === null) return this.#refuse('not-found', 'not found');
          followed = join(resolve(dirname(next), link), ...segments.slice(i + 1));
          break;
        }
        if (i < segments.length - 1 && !st.isDirectory()) return this.#refuse('not-found', 'not found');
        current = next;
      }
      if (followed !== undefined) {
        target = followed;
        continue;
      }
      const st = await lstat(current).catch(() => null);
      if (!st) return this.#refuse('not-found', 'not found');
      return { ok: true, real: current, dev: st.dev, ino: st.ino, isDirectory: st.isDirectory() };
    }
  }

  #rootOf(path: string): Root | undefined {
    return this.#roots.find((r) => isInside(r.real, path)) ?? this.#roots.find((r) => isInside(r.lexical, path));
  }

  #refuse(reason: ConfinementRefusal['reason'], message: string): ConfinementRefusal {
    return { ok: false, reason, message };
  }
}
