import { resolve } from 'node:path';
import { createHttpServer } from '../api/server.js';
import { GreenticHost } from '../host.js';
import { webchatPath } from '../messaging/providers/webchat-cookie.js';
import { createLogger } from '../observability/logger.js';
import { ConfigError } from '../tenancy/config/problems.js';
import { checkId, InvalidIdError } from '../tenancy/ids.js';
import { HELP_FLAG, parsingFlags, CommandFailed, intFlag, required, UsageError, type CommandIo } from './usage.js';
import { parseArgs } from 'node:util';

export const SERVE_HELP = `Usage: greentic-host serve --bundle DIR [--data DIR] [--port N] [--host ADDR] [options]

Run the host: load the bundle's tenants, flows and components, answer ingress messages on
the embedded bus, and serve every webchat channel over HTTP:
  POST /webchat/{tenant}/{env}/{team}/{channel}/messages   body {"text": "..."}
The session is kept by a cookie valid on that one channel only.

Options:
  --bundle DIR      the bundle (workspace) directory      (required)
  --data DIR        sessions, secrets, master key         (default: ./data)
  --port N          HTTP port, 0 for any free one         (default: 8080)
  --host ADDR       address to listen on                  (default: 127.0.0.1)
  --workers N       guest worker threads                  (default: CPU count, at least 2)
  --tenants LIST    tenants this instance serves: "all" or a comma-separated list (default: all)
  -h, --help        this help

Logs are JSON lines on stderr (GREENTIC_LOG_LEVEL, default info); progress and the ready
line go to stdout. Stop with Ctrl-C (SIGINT) or SIGTERM: in-flight turns finish first.`;

export async function serveCommand(argv: string[], io: CommandIo, signal?: AbortSignal): Promise<number> {
  const { values } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        bundle: { type: 'string' },
        data: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        workers: { type: 'string' },
        tenants: { type: 'string' },
      },
      allowPositionals: false,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(SERVE_HELP);
    return 0;
  }
  const bundle = resolve(required(values.bundle, 'bundle'));
  const port = intFlag(values.port, 'port', 0, 65535) ?? 8080;
  const workers = intFlag(values.workers, 'workers', 1, 256);
  let tenants: 'all' | string[] = 'all';
  if (values.tenants !== undefined && values.tenants !== 'all') {
    try {
      tenants = values.tenants.split(',').map((t) => checkId('tenant', t, '--tenants'));
    } catch (e) {
      if (e instanceof InvalidIdError) throw new UsageError(e.message);
      throw e;
    }
  }
  const dataDir = resolve(values.data ?? 'data');
  const logger = createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'info' });
  io.out(`greentic-host: loading ${bundle}`);
  let host: GreenticHost;
  try {
    host = await GreenticHost.start({ bundleDir: bundle, dataDir, tenants, workers, logger, onProgress: (line) => io.out(`  ${line}`) });
  } catch (e) {
    if (e instanceof ConfigError) throw new CommandFailed(e.message);
    throw e;
  }
  for (const t of tenants === 'all' ? [] : tenants) if (!host.serves(t)) io.err(`warning: tenant "${t}" is not in the bundle or failed to load`);
  if (host.problems.length > 0)
    io.err(`warning: ${host.problems.length} configuration problem(s); affected tenants or channels are unavailable (see the log, or run validate)`);

  const app = createHttpServer(host);
  let url: string;
  try {
    url = await app.listen({ port, host: values.host ?? '127.0.0.1' });
  } catch (e) {
    await host.close();
    throw new CommandFailed(`cannot listen on ${values.host ?? '127.0.0.1'}:${port}: ${(e as Error).message}`);
  }
  const webchats: string[] = [];
  let channels = 0;
  for (const rt of host.runtimes.values()) {
    for (const team of rt.model.teams.values()) {
      for (const ch of team.channels.values()) {
        channels++;
        if (ch.provider !== 'webchat') continue;
        for (const env of team.envs) webchats.push(`${url}${webchatPath({ tenant: rt.model.id, env, team: team.id, channel: ch.id })}`);
      }
    }
  }
  io.out(
    `greentic-host ready: ${host.runtimes.size} tenants (${[...host.runtimes.keys()].join(', ')}), ${channels} channels, embedded bus, data in ${dataDir}`,
  );
  for (const w of webchats) io.out(`  webchat: ${w}`);

  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  io.out('greentic-host: stopping');
  await app.close();
  await host.close();
  return 0;
}
