// vitest globalSetup: before any test file runs, check what the tests need from the machine
// and stop with one line per missing tool saying how to install it (instead of every NATS test
// waiting for a server that cannot start, or every browser test failing on its own).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');

/** What is missing, one line each; empty when the machine has everything. */
export function missingPrerequisites(env: NodeJS.ProcessEnv = process.env): string[] {
  const missing: string[] = [];
  const nats = spawnSync('nats-server', ['--version'], { encoding: 'utf8', env });
  if (nats.error || nats.status !== 0) {
    missing.push('nats-server is not on PATH: install it (apt-get install nats-server, or a release from https://github.com/nats-io/nats-server/releases)');
  }
  const chromium = env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) missing.push(`no Chromium at ${chromium}: install it (apt-get install chromium) or set CHROMIUM_PATH`);
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')) || !existsSync(join(ROOT, 'build', 'components'))) {
    missing.push('the host and components are not built: run npm run build (npm test does it first)');
  }
  return missing;
}

export default function setup(): void {
  const missing = missingPrerequisites();
  if (missing.length === 0) return;
  // One line each, no stack: vitest prints a thrown error's stack, so write and exit instead.
  process.stderr.write(`npm test needs:\n${missing.map((m) => `  ${m}`).join('\n')}\n`);
  process.exit(1);
}
