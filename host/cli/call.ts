import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ComponentLoadError } from '../components/registry.js';
import { callComponentOnce, callGreenticOnce, prepareCall, type CallScope, type PreparedCall } from '../flow/component-call.js';
import { HttpPolicy } from '../capabilities/http-client/allow-list.js';
import { cborToJson } from '../greentic/cbor.js';
import { createLogger } from '../observability/logger.js';
import { DEFAULT_CACHE_DIR } from '../paths.js';
import type { DenialEvent } from '../observability/metrics.js';
import { NodeError } from '../sandbox/errors.js';
import { zodProblems } from '../tenancy/config/problems.js';
import { lookUpManifest } from './manifest-lookup.js';
import { openSecretStore } from './secret-store-open.js';
import { HELP_FLAG, parsingFlags, CommandFailed, idFlag, jsonFlag, optionalIdFlag, required, UsageError, dataDirFlag, type CommandIo } from './usage.js';

export const CALL_HELP = `Usage: greentic-host call COMPONENT.wasm --tenant T --env E [--team TEAM] --input TEXT [options]
       greentic-host call COMPONENT.wasm --tenant T --env E [--team TEAM] [--op OP] --input JSON   (a Greentic component)

Run one component once, in the sandbox, under the given scope, and print what it did:
its replies, messages it sent, the next step it chose and the session state after the call.
For plugin authors: the same worker, bridge and capability checks as a flow run.

A Greentic component (exporting greentic:component/node@0.6) is invoked as it is: --input is
the JSON payload (sent as CBOR), --op the op (default: the first its describe() lists), and the
decoded CBOR output is printed as JSON.

Options:
  --input TEXT|JSON  the user's message; for a Greentic component the JSON payload  (required)
  --op OP            a Greentic component's op
  --tenant T --env E [--team TEAM]                               the scope (tenant, env required)
  --config JSON      the node's config                           (default: {})
  --state JSON       the session state before the call, {"key": "value"}
  --resumed          call as if the flow was waiting at this node
  --user U           the user id                                 (default: cli-user)
  --channel C        the incoming channel id                     (default: cli)
  --manifest FILE    the component's manifest.yaml or component.manifest.json
                     (default: next to the .wasm; a component.manifest.json above it naming it)
  --data DIR         where secrets are read from                 (default: ./data)
  --allow-http ORIGIN  an origin (scheme://host[:port]) a Greentic component's
                     http-client may reach; repeat for more      (default: none)
  --json             print the result as JSON
  -h, --help         this help

--config is checked against the manifest's config_schema first, as a flow's node config is.
A capability call the host denied is printed with its reason (and named when the call then fails).
Every capability the manifest requests is granted (you are the operator); without a manifest
the component gets none (a Greentic component: the WASI it imports, in the sandbox: no
environment, directories or network). Exit codes: 0 ok, 1 the call failed (or a Greentic component answered ok: false), 2 bad usage.`;

/** The --allow-http origins as a policy, or undefined for none. */
function httpPolicyFlag(origins: string[] | undefined): HttpPolicy | undefined {
  if (!origins || origins.length === 0) return undefined;
  try {
    return HttpPolicy.of(origins);
  } catch (e) {
    throw new UsageError(`--allow-http: ${(e as Error).message}`);
  }
}

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
        op: { type: 'string' },
        config: { type: 'string' },
        state: { type: 'string' },
        resumed: { type: 'boolean' },
        user: { type: 'string' },
        channel: { type: 'string' },
        manifest: { type: 'string' },
        data: { type: 'string' },
        json: { type: 'boolean' },
        'allow-http': { type: 'string', multiple: true },
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
  const input = required(values.input, 'input');
  if (!existsSync(wasmPath)) throw new CommandFailed(`${positionals[0]}: file not found`);
  const found = await lookUpManifest(wasmPath, values.manifest, io);
  let prepared: PreparedCall;
  try {
    prepared = await prepareCall({
      wasmPath,
      manifest: found.manifest,
      cacheDir: DEFAULT_CACHE_DIR,
      greentic: found.greentic,
      http: httpPolicyFlag(values['allow-http']),
    });
  } catch (e) {
    if (e instanceof ComponentLoadError) throw new CommandFailed(e.message);
    throw e;
  }
  const greentic = prepared.component.world === 'greentic-component-node';
  if (!found.manifest) {
    const gets = greentic ? 'the WASI it imports, in the sandbox (no environment, directories or network)' : 'no capabilities';
    io.err(`note: no manifest for ${positionals[0]}; the component gets ${gets}`);
  }
  const secrets = await openSecretStore({
    dataDir: dataDirFlag(values.data),
    nats: undefined,
    client: 'greentic-host call',
    tenants: [scope.tenant],
    global: true,
  });
  const who: CallScope = {
    scope,
    user,
    session: 'cli-session',
    channel,
    secrets: secrets.store,
    logger: createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'info' }),
    onDenial: (e) => void denials.push(e),
  };
  const denials: DenialEvent[] = [];
  try {
    if (greentic) {
      for (const flag of ['config', 'state', 'resumed'] as const) {
        if (values[flag] !== undefined)
          throw new UsageError(`--${flag} is for greentic:host components; a Greentic component takes its whole payload in --input`);
      }
      const payload = jsonFlag(input, 'input');
      const { result, ms } = await callGreenticOnce(prepared, { ...who, op: values.op ?? found.greentic?.defaultOperation, payload });
      const output = cborToJson(result.output);
      if (values.json) {
        const metadata = result.metadata === undefined ? null : cborToJson(result.metadata);
        io.out(JSON.stringify({ op: result.op, ok: result.ok, output, output_metadata: metadata, encoding: result.encoding, ms: Math.round(ms * 10) / 10 }));
      } else io.out(JSON.stringify(output, null, 2));
      if (!result.ok) throw new CommandFailed(`component answered ok: false (op "${result.op}")`);
      return 0;
    }
    if (values.op !== undefined) throw new UsageError('--op is for Greentic components (greentic:component/node@0.6); this one exports greentic:host/node');
    const config = jsonFlag(values.config, 'config') ?? {};
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UsageError('--config must be a JSON object');
    const state = jsonFlag(values.state, 'state') ?? {};
    if (typeof state !== 'object' || state === null || Array.isArray(state) || Object.values(state).some((v) => typeof v !== 'string')) {
      throw new UsageError('--state must be a JSON object of string values');
    }
    checkConfig(config, found.manifest?.config_schema);
    const result = await callComponentOnce(prepared, {
      ...who,
      text: input,
      config: config as Record<string, unknown>,
      state: state as Record<string, string>,
      resumed: values.resumed ?? false,
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
          denied: denials.map((d) => ({ capability: d.capability, fn: d.fn, reason: d.reason })),
          ms: Math.round(result.ms * 10) / 10,
        }),
      );
    } else {
      for (const r of replies) io.out(`reply: ${r}`);
      for (const m of result.outbox.filter((o) => o.channel !== channel)) io.out(`sent to ${m.channel}: ${m.text}`);
      io.out(`next: ${next}`);
      io.out(`state: ${JSON.stringify(result.state)}`);
      for (const d of denials) io.out(`denied: ${denialText(d)}`);
    }
    return 0;
  } catch (e) {
    // A trap after a denied capability call is most likely its consequence: name the denial.
    if (e instanceof NodeError) {
      const after = denials.length > 0 ? `; before it failed, the host denied ${denials.map(denialText).join('; ')}` : '';
      throw new CommandFailed(`node error ${e.code}: ${e.message}${after}`);
    }
    if (e instanceof ComponentLoadError) throw new CommandFailed(e.message);
    throw e;
  }
}

/** "state.set (capabilities.state is read): why", as a person reads a denial. */
function denialText(d: DenialEvent): string {
  return `${d.capability}.${d.fn}: ${d.reason}`;
}

/** --config checked against the manifest's config_schema, with the validator a flow's node config goes through. */
function checkConfig(config: unknown, schema: Record<string, unknown> | undefined): void {
  if (!schema) return;
  const check = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]).safeParse(config);
  if (check.success) return;
  const problems = zodProblems('--config', check.error.issues).map((p) => `${p.path || '(the whole config)'}: ${p.message}`);
  throw new CommandFailed(`--config does not match the manifest's config_schema: ${problems.join('; ')}`);
}
