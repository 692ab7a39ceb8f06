import type { z } from 'zod';

/** One thing wrong with a configuration file, located by file and by path inside it. */
export interface ConfigProblem {
  /** The file, relative to the bundle root where possible. */
  readonly file: string;
  /** Dotted path inside the file ("teams.support.channels.slack.provider"), empty for the whole file. */
  readonly path: string;
  readonly message: string;
  /** The tenant the problem belongs to, when it belongs to one. */
  readonly tenant?: string | undefined;
}

/** "examples/tenants/acme/tenant.yaml: grants.components.rply: unknown component" */
export function formatProblem(p: ConfigProblem): string {
  return p.path ? `${p.file}: ${p.path}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** A configuration that cannot be used; carries every problem found, each with file and path. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

/** Join path segments the way users write them in YAML. */
export function joinPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : `${i === 0 ? '' : '.'}${String(seg)}`)).join('');
}

/** Turn zod issues into problems, expanding nested key issues and naming unknown keys one by one. */
export function zodProblems(file: string, issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = [], tenant?: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ file, path: joinPath([...path, key]), message: 'unknown key', tenant });
    } else if (issue.code === 'invalid_key' || issue.code === 'invalid_element') {
      out.push(...zodProblems(file, issue.issues, path, tenant));
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest rather than "invalid input".
      const best = issue.errors.reduce((a, b) => (deepest(b) > deepest(a) ? b : a));
      out.push(...zodProblems(file, best, path, tenant));
    } else {
      out.push({ file, path: joinPath(path), message: issue.message, tenant });
    }
  }
  return out;
}

function deepest(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}
