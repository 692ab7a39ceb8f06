import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { shownPath } from '../components/builder.js';
import { buildComponentFolder } from '../components/folder-build.js';
import { DEFAULT_CACHE_DIR, WIT_DIR } from '../paths.js';
import { buildCacheDir } from './component-build.js';
import { DevLoop } from './dev-loop.js';
import { serveCommand } from './serve.js';
import { CommandFailed, HELP_FLAG, intFlag, parsingFlags, type CommandIo } from './usage.js';

export const DEV_HELP = `Usage: greentic-host dev [--bundle DIR] [--data DIR] [--port N] [--host ADDR]

The dev loop: serve a bundle on the embedded bus and stores, watch its files, rebuild the
components whose sources changed and reload only the tenants that changed, one line each:
  reloaded acme (flows: 2, components: 1 rebuilt) in 340 ms
or, when a file is broken, the problems with file and path, while the tenant keeps serving its
last good version (a component that does not build included).

The bundle is the folder holding bundle.yaml: the current one or the nearest above it, or
--bundle. A tenant's component kept as sources (tenants/<tenant>/components/<name>/ whose
manifest.yaml names source:, as greentic-host component new makes it) is built into its dist/
at start and whenever its files change; the tenant is served from that build.

Options:
  --bundle DIR   the bundle                         (default: bundle.yaml here or above)
  --data DIR     sessions, secrets, master key      (default: .greentic/data in the bundle)
  --port N       HTTP port, 0 for any free one      (default: 8080)
  --host ADDR    address to listen on               (default: 127.0.0.1)
  -h, --help     this help

Changes are debounced (300 ms after the last event, at most 3 s after the first). Stop with Ctrl-C. For production, use
serve (greentic-host serve --help), with components built by greentic-host component build.

Exit codes: 0 stopped, 1 no bundle found or it cannot be served, 2 bad usage.`;

/** `greentic-host dev`: serve, watch, rebuild, reload. */
export async function devCommand(argv: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
  const { values } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: { ...HELP_FLAG, bundle: { type: 'string' }, data: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
      allowPositionals: false,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(DEV_HELP);
    return 0;
  }
  const port = intFlag(values.port, 'port', 0, 65535) ?? 8080;
  const bundle = values.bundle === undefined ? findBundle(process.cwd()) : givenBundle(values.bundle);
  const data = values.data === undefined ? join(bundle, '.greentic', 'data') : resolve(values.data);
  io.out(`greentic-host dev: bundle ${shownPath(bundle) || '.'}`);
  const loop = new DevLoop(
    join(bundle, 'tenants'),
    (dir) => buildComponentFolder(dir, { progress: () => {}, cacheDir: buildCacheDir(), transpileCacheDir: DEFAULT_CACHE_DIR, defaultWit: WIT_DIR }),
    io.out,
  );
  await loop.buildAll();
  const serveArgs = ['--bundle', bundle, '--data', data, '--port', String(port), '--no-watch', ...(values.host === undefined ? [] : ['--host', values.host])];
  return serveCommand(serveArgs, io, signal, {
    started: (host) => {
      loop.attach(host);
      return 'dev loop: watching the bundle, rebuilding changed components';
    },
  });
}

/** The folder holding bundle.yaml: `from` or the nearest one above it (as spin up finds spin.toml). */
export function findBundle(from: string): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bundle.yaml'))) return dir;
    if (dirname(dir) === dir) break;
  }
  throw new CommandFailed(`no bundle.yaml in ${from} or any folder above it: run greentic-host dev in a bundle, or give --bundle DIR`);
}

function givenBundle(raw: string): string {
  const dir = resolve(raw);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CommandFailed(`--bundle ${raw}: no such directory`);
  return dir;
}
