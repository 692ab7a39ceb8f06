import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/bundle.js';
import { missingPrerequisites } from '../prerequisites.js';

describe('npm test checks its prerequisites first', () => {
  it('names each missing tool and how to install it', () => {
    expect(missingPrerequisites({ PATH: '/nonexistent', CHROMIUM_PATH: '/nonexistent/chromium' })).toEqual([
      'nats-server is not on PATH: install it (apt-get install nats-server, or a release from https://github.com/nats-io/nats-server/releases)',
      'no Chromium at /nonexistent/chromium: install it (apt-get install chromium) or set CHROMIUM_PATH',
    ]);
    expect(missingPrerequisites(process.env)).toEqual([]);
  });

  it('stops vitest before any test file runs, one line each, no stack', async () => {
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const env = { ...process.env, PATH: '/nonexistent', CHROMIUM_PATH: '/nonexistent/chromium' };
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [vitest, 'run', 'test/unit/ids.test.ts'], { cwd: ROOT, env, timeout: 60_000 }, (err, _out, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'npm test needs:\n  nats-server is not on PATH: install it (apt-get install nats-server, or a release from https://github.com/nats-io/nats-server/releases)\n  no Chromium at /nonexistent/chromium: install it (apt-get install chromium) or set CHROMIUM_PATH\n',
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
