// The build process: started by `greentic-host component build|new` (see build-runner.ts) to run
// componentize-js, jco and jco-transpile's type generation. Those tools read files through
// preview2-shim's filesystem, which needs process-wide preopens; a process that opened folders
// that way must never run a guest, so the CLI never does this itself. Reads one BuildRequest on
// the IPC channel, answers with progress lines and one result, then exits.
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { BuildReply, BuildRequest } from './build-protocol.js';
import { BuildCache } from './build-cache.js';
import { buildComponent, ComponentBuildError, prepareBuildProcess } from './builder.js';
import { generateGuestTypeFiles } from './guest-types.js';

function reply(message: BuildReply): Promise<void> {
  return new Promise((done) => {
    process.send!(message, undefined, undefined, () => done());
  });
}

/**
 * Copy the WIT (a folder or a file) into `scratch`, following symlinks: the tools then need only
 * `scratch` opened, and a deps/ link to a shared wit/ elsewhere still resolves (the shim refuses
 * symlinks that leave an opened folder).
 */
function privateWit(wit: string, scratch: string): string {
  const copy = join(scratch, 'wit', basename(wit));
  try {
    cpSync(wit, copy, { recursive: true, dereference: true });
  } catch (e) {
    throw new ComponentBuildError(wit, `cannot read the WIT at ${wit}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return copy;
}

async function handle(request: BuildRequest): Promise<BuildReply> {
  if (request.kind === 'component') {
    const t = request.target;
    // Preopens match real paths (a temp folder may be behind a symlink, as on macOS).
    const scratch = realpathSync(t.tmpDir);
    const target = { ...t, wit: privateWit(t.wit, scratch), tmpDir: scratch };
    await prepareBuildProcess([scratch]);
    const cache = request.cacheDir === undefined ? undefined : new BuildCache(request.cacheDir);
    const { bytes, imports } = await buildComponent(target, (line) => void reply({ kind: 'progress', line }), cache);
    await mkdir(dirname(request.out), { recursive: true });
    await writeFile(request.out, bytes);
    const listed = [...imports].map(([spec, names]) => [spec, names === '*' ? '*' : [...names]] as const);
    return { kind: 'built', out: request.out, size: bytes.length, digest: createHash('sha256').update(bytes).digest('hex'), imports: listed };
  }
  const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'greentic-types-')));
  try {
    const wit = privateWit(request.wit, scratch);
    await prepareBuildProcess([scratch]);
    return { kind: 'guest-types', files: await generateGuestTypeFiles(wit, request.world) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (!process.send) {
  process.stderr.write('builder-process: started by greentic-host (component build/new), not by hand\n');
  process.exit(2);
}
process.once('message', (request: BuildRequest) => {
  handle(request)
    .catch((e: unknown): BuildReply => {
      if (e instanceof ComponentBuildError) return { kind: 'failed', message: e.message };
      return { kind: 'failed', message: `the build process failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
    })
    .then(reply)
    .finally(() => process.exit(0));
});
