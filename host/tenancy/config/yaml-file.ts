import { readFile } from 'node:fs/promises';
import { relative, isAbsolute } from 'node:path';
import { parseDocument } from 'yaml';
import type { ConfigProblem } from './problems.js';

/** How a config file is named in messages: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export type YamlResult = { ok: true; data: unknown } | { ok: false; problems: ConfigProblem[] };

/** Read and parse one YAML file; syntax errors and duplicate keys become problems with a line number. */
export async function readYamlFile(file: string, tenant?: string): Promise<YamlResult> {
  const shown = displayPath(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, problems: [{ file: shown, path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read: ${code ?? String(e)}`, tenant }] };
  }
  return parseYamlText(text, shown, tenant);
}

/** Parse YAML text already read; `shown` names the source in problems. */
export function parseYamlText(text: string, shown: string, tenant?: string): YamlResult {
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
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) return { ok: false, problems: [{ file: shown, path: '', message: 'file is empty', tenant }] };
  return { ok: true, data };
}
