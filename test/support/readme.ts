import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './bundle.js';

/** One `$ command` of a console block in README.md and the output lines shown under it. */
export interface ReadmeCommand {
  readonly command: string;
  readonly output: readonly string[];
}

/** The text of the README section titled `title` (a "## " heading), up to the next one. */
export function readmeSection(title: string): string {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = text.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`README.md has no section "## ${title}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end === -1 ? undefined : end);
}

/** The commands of a README section's console blocks, in order; `\` continuation lines are joined. */
export function readmeCommands(title: string): ReadmeCommand[] {
  const out: Array<{ command: string; output: string[] }> = [];
  let inConsole = false;
  let continuing = false;
  for (const line of readmeSection(title).split('\n')) {
    if (line.startsWith('```')) {
      inConsole = !inConsole && line === '```console';
      continuing = false;
      continue;
    }
    if (!inConsole) continue;
    const current = out[out.length - 1];
    if (continuing && current) {
      current.command += ` ${line.trim().replace(/\s*\\$/, '')}`;
      continuing = line.endsWith('\\');
    } else if (line.startsWith('$ ')) {
      out.push({ command: line.slice(2).replace(/\s*\\$/, ''), output: [] });
      continuing = line.endsWith('\\');
    } else if (current) {
      current.output.push(line);
    }
  }
  return out;
}

/** Split a shell command line into words: single and double quotes, no expansion or escapes. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}
