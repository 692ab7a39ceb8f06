import { parseDocument } from 'yaml';
import { displayPath, MAX_CONFIG_FILE_BYTES, readTextBounded } from './config-file.js';
import type { Confinement } from './confinement.js';
import { joinPath, type ConfigProblem } from './problems.js';

export { displayPath } from './config-file.js';

/** Alias expansions one YAML document may make (the `yaml` package's own bound on alias bombs). */
export const MAX_YAML_ALIASES = 100;
/** Nesting depth of maps and lists in one config document. */
export const MAX_CONFIG_DEPTH = 64;

export type YamlResult = { ok: true; data: unknown } | { ok: false; problems: ConfigProblem[] };

/**
 * Read and parse one YAML file, bounded (size, aliases, depth), confined to `confinement`
 * when given. Every failure (unreadable, too large, not UTF-8, bad YAML, an alias bomb)
 * becomes a problem naming the file, never an exception.
 */
export async function readYamlFile(file: string, tenant?: string, confinement?: Confinement): Promise<YamlResult> {
  const read = await readTextBounded(file, { maxBytes: MAX_CONFIG_FILE_BYTES, tenant, confinement });
  if (!read.ok) return read;
  return parseYamlText(read.text, displayPath(file), tenant);
}

/** Parse YAML text already read; `shown` names the source in problems. */
export function parseYamlText(text: string, shown: string, tenant?: string): YamlResult {
  const problem = (message: string, path = ''): YamlResult => ({ ok: false, problems: [{ file: shown, path, message, tenant }] });
  if (text.length > MAX_CONFIG_FILE_BYTES) return problem(`is ${Buffer.byteLength(text)} bytes; the limit is ${MAX_CONFIG_FILE_BYTES}`);
  let data: unknown;
  try {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length > 0) {
      return {
        ok: false,
        problems: doc.errors.map((err) => ({
          file: shown,
          path: '',
          message: `YAML error${err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : ''}: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          tenant,
        })),
      };
    }
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    // The parser's own limits: an alias bomb (ReferenceError), nesting too deep for its stack (RangeError).
    if (e instanceof ReferenceError && /alias/i.test(e.message)) return problem(`YAML aliases expand more than ${MAX_YAML_ALIASES} times; refused`);
    if (e instanceof RangeError) return problem(`YAML nested too deeply to parse; the limit is ${MAX_CONFIG_DEPTH} levels`);
    return problem(`YAML error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  if (data === null || data === undefined) return problem('file is empty');
  const shape = shapeProblem(data);
  if (shape) return problem(shape.message, shape.path);
  return { ok: true, data };
}

/**
 * The first structural problem of parsed config data: nesting deeper than MAX_CONFIG_DEPTH, or
 * a `__proto__` key (which schema validation would silently drop, and which no config key is).
 */
export function shapeProblem(data: unknown): { path: string; message: string } | null {
  const stack: Array<{ value: unknown; path: PropertyKey[] }> = [{ value: data, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (path.length >= MAX_CONFIG_DEPTH) return { path: joinPath(path), message: `nested more than ${MAX_CONFIG_DEPTH} levels deep` };
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: [...path, i] }));
      continue;
    }
    for (const [k, v] of Object.entries(value)) {
      if (k === '__proto__') return { path: joinPath([...path, k]), message: 'the key "__proto__" is not allowed' };
      stack.push({ value: v, path: [...path, k] });
    }
  }
  return null;
}
