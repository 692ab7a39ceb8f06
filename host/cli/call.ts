import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseManifest, type ComponentManifest } from '../components/manifest.js';
import { ComponentLoadError } from '../components/registry.js';
import { callComponentOnce } from '../flow/component-call.js';
import { createLogger } from '../observability/logger.js';
import { DEFAULT_CACHE_DIR } from '../paths.js';
import { NodeError } from '../sandbox/errors.js';
import { loadMasterKey } from '../stores/master-key.js';
import { FileSecretStore } from '../stores/secret-store.js';
import { ConfigError, formatProblem } from '../tenancy/config/problems.js';
import { readYamlFile } from '../tenancy/config/yaml-file.js';
import { HELP_FLAG, parsingFlags, CommandFailed, idFlag, jsonFlag, optionalIdFlag, required, UsageError, type CommandIo } from './usage.js';
import { parseArgs } from 'node:util';

export const CALL_HELP = `Usage: greentic-host call COMPONENT.wasm --tenant T --env E [--team TEAM] --input TEXT [options]

Run one component once, in the sandbox, under the given scope, and print what it did:
its replies, messages it sent, the next step it chose and the session state after the call.
For plugin authors: the same worker, bridge and capability checks as a flow run.

Options:
  --input TEXT       the user's message                          (required)
  --tenant T --env E [--team TEAM]                               the scope (tenant, env required)
  --config JSON      the node's config                           (default: {})
  --state JSON       the session state before the call, {"key": "value"}
  --resumed          call as if the flow was waiting at this node
  --user U           the user id                                 (default: cli-user)
  --channel C        the incoming channel id                     (default: cli)
  --manifest FILE    the component's manifest.yaml               (default: next to the .wasm)
  --data DIR         where secrets are read from                 (default: ./data)
  --json             print the result as JSON
  -h, --help         this help

Every capability the manifest requests is granted (you are the operator); without a manifest
the component gets none. Exit codes: 0 ok, 1 the call failed, 2 bad usage.`;

export async function callCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        tenant: { type: 'string' },
        env: { type: 'string' },
        team: { type: 'string' },
        input: { type: 'string' },
        config: { type: 'string' },
        state: { type: 'string' },
        resumed: { type: 'boolean' },
        user: { type: 'string' },
        channel: { type: 'string' },
        manifest: { type: 'string' },
        data: { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(CALL_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one COMPONENT.wasm argument');
  const wasmPath = resolve(positionals[0]!);
  const scope = { tenant: idFlag('tenant', values.tenant, 'tenant'), env: idFlag('env', values.env, 'env'), team: optionalIdFlag('team', values.team, 'team') };
  const user = idFlag('user', values.user ?? 'cli-user', 'user');
  const channel = idFlag('channel', values.channel ?? 'cli', 'channel');
  const text = required(values.input, 'input');
  const config = jsonFlag(values.config, 'config') ?? {};
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UsageError('--config must be a JSON object');
  const state = jsonFlag(values.state, 'state') ?? {};
  if (typeof state !== 'object' || state === null || Array.isArray(state) || Object.values(state).some((v) => typeof v !== 'string')) {
    throw new UsageError('--state must be a JSON object of string values');
  }
  if (!existsSync(wasmPath)) throw new CommandFailed(`${positionals[0]}: file not found`);

  const manifestFile = values.manifest ? resolve(values.manifest) : join(dirname(wasmPath), 'manifest.yaml');
  let manifest: ComponentManifest | undefined;
  if (existsSync(manifestFile)) {
    const doc = await readYamlFile(manifestFile);
    if (!doc.ok) throw new CommandFailed(doc.problems.map(formatProblem).join('\n'));
    const parsed = parseManifest(doc.data, manifestFile);
    if (!parsed.ok) throw new CommandFailed(new ConfigError(parsed.problems).message);
    manifest = parsed.manifest;
  } else if (values.manifest) {
    throw new CommandFailed(`${values.manifest}: file not found`);
  } else {
    io.err(`note: no manifest.yaml next to ${positionals[0]}; the component gets no capabilities`);
  }

  const dataDir = resolve(values.data ?? 'data');
  const logger = createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'info' });
  try {
    const result = await callComponentOnce({
      wasmPath,
      manifest,
      scope,
      user,
      session: 'cli-session',
      channel,
      text,
      config: config as Record<string, unknown>,
      state: state as Record<string, string>,
      resumed: values.resumed ?? false,
      secrets: new FileSecretStore(dataDir, await loadMasterKey(join(dataDir, 'master.key'))),
      logger,
      cacheDir: DEFAULT_CACHE_DIR,
    });
    const replies = [...result.outbox.filter((m) => m.channel === channel).map((m) => m.text), ...result.output.replies];
    const next = result.output.next.tag === 'route' ? `route ${result.output.next.val}` : result.output.next.tag;
    if (values.json) {
      io.out(
        JSON.stringify({
          replies,
          sent: result.outbox,
          next: result.output.next,
          state: result.state,
          denials: result.denials,
          ms: Math.round(result.ms * 10) / 10,
        }),
      );
    } else {
      for (const r of replies) io.out(`reply: ${r}`);
      for (const m of result.outbox.filter((o) => o.channel !== channel)) io.out(`sent to ${m.channel}: ${m.text}`);
      io.out(`next: ${next}`);
      io.out(`state: ${JSON.stringify(result.state)}`);
      if (result.denials > 0) io.out(`denied capability calls: ${result.denials} (see the log)`);
    }
    return 0;
  } catch (e) {
    if (e instanceof NodeError) throw new CommandFailed(`node error ${e.code}: ${e.message}`);
    if (e instanceof ComponentLoadError) throw new CommandFailed(e.message);
    throw e;
  }
}
