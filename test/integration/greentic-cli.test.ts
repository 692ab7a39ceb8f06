// `greentic-host describe` and `greentic-host call --op` on Greentic components, through the
// real binary, and `validate` describing them in the sandbox.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, copyExamples, fixtureWasm, GREENTIC_WASI_GRANT, greenticJsManifest, installTenantComponent, tempDir, writeFiles } from '../support/bundle.js';

const run = promisify(execFile);
const work = tempDir('greentic-gcli-');
afterAll(() => work.cleanup());
const JS = fixtureWasm('greentic-js');

async function greentic(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd: work.dir,
      env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn' },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
const scope = ['--tenant', 'acme', '--env', 'prod', '--team', 'support'];

describe('greentic-host describe', () => {
  it('prints the descriptor, the WASI it imports and how each version is served', async () => {
    const r = await greentic(['describe', JS]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'greentic-js 0.1.0: A Greentic component built from JS for greentic-host tests',
      'capabilities: messaging',
      'ops:',
      '  echo        replies "<config.prefix or echo>: <text>"; called raw, returns its payload',
      '              in application/cbor (inline schema, 13 bytes), out application/cbor (cbor-schema-id greentic-js.echo), 1 example',
    ]);
    expect(lines).toContain('schemas: greentic-js.echo@1, greentic-js.route@1');
    expect(lines).toContain('setup: qa-spec (ref-uri https://example.invalid/qa), 1 example(s), outputs: config-only, template-scaffold');
    expect(lines.at(-2)).toMatch(/^WASI imports: 0\.2\.12 \(served as 0\.2\.3\): wasi:io\/poll, .*wasi:cli\/exit, .*wasi:filesystem\/preopens$/);
    expect(lines.at(-1)).toMatch(/^described in \d+ ms$/);
  });

  it('--json: the descriptor with WIT field names, every variant case and CBOR decoded', async () => {
    const r = await greentic(['describe', JS, '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as Record<string, unknown> & { ops: Array<Record<string, unknown>> };
    expect(d.ops.map((o) => o.name)).toEqual(['echo', 'route', 'ask', 'ctx', 'stderr', 'exit', 'fail', 'decline', 'data', 'bad-output', 'env']);
    expect(d.ops[0]).toEqual({
      name: 'echo',
      summary: 'replies "<config.prefix or echo>: <text>"; called raw, returns its payload',
      input: { schema: { 'inline-cbor': { type: 'object' } }, 'content-type': 'application/cbor', 'schema-version': null },
      output: { schema: { 'cbor-schema-id': 'greentic-js.echo' }, 'content-type': 'application/cbor', 'schema-version': '1' },
      examples: [{ title: 'hello', 'input-cbor': { message: { text: 'hi' } }, 'output-cbor': { text: 'echo: hi' } }],
    });
    expect(d.schemas).toEqual([
      { id: 'greentic-js.echo', 'content-type': 'application/cbor', 'blake3-hash': '0'.repeat(64), version: '1', bytes: { type: 'object' }, uri: null },
      {
        id: 'greentic-js.route',
        'content-type': 'application/cbor',
        'blake3-hash': '1'.repeat(64),
        version: '1',
        bytes: null,
        uri: 'https://example.invalid/route',
      },
    ]);
    expect(d.setup).toEqual({
      'qa-spec': { 'ref-uri': 'https://example.invalid/qa' },
      'answers-schema': { 'inline-cbor': { type: 'object' } },
      examples: [{ title: 'defaults', 'answers-cbor': { prefix: 'echo' } }],
      outputs: [{ 'config-only': null }, { 'template-scaffold': { 'template-ref': 'greentic-js/basic', 'output-layout': null } }],
    });
  });

  it('refuses what is not a Greentic component, or cannot be served', async () => {
    const ours = await greentic(['describe', join(process.cwd(), 'build', 'components', 'reply', 'reply.wasm')]);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toMatch(
      /reply\.wasm: exports greentic:host\/node@0\.1\.0, not one of Greentic's component contracts; only a Greentic component is described\n$/,
    );
    const next = await greentic(['describe', fixtureWasm('greentic-wasi-next')]);
    expect(next.code).toBe(1);
    expect(next.stderr).toMatch(/component "greentic-wasi-next" imports wasi:cli\/environment@0\.3\.0, a WASI version this host cannot serve; /);
    expect((await greentic(['describe'])).code).toBe(2);
    expect((await greentic(['describe', '--help'])).stdout).toMatch(/^Usage: greentic-host describe COMPONENT\.wasm/);
  });
});

describe('greentic-host call on a Greentic component', () => {
  it('--op OP --input JSON: the payload goes in as CBOR, the output comes out as JSON', async () => {
    const r = await greentic(['call', JS, ...scope, '--op', 'echo', '--input', '{"city":"Ghent","n":[1,2.5,true,null]}']);
    expect(r).toMatchObject({ code: 0, stdout: `${JSON.stringify({ city: 'Ghent', n: [1, 2.5, true, null] }, null, 2)}\n` });
    const json = await greentic(['call', JS, ...scope, '--op', 'ctx', '--input', '{"a":1}', '--json']);
    const out = JSON.parse(json.stdout) as { op: string; ok: boolean; output: { ctx: Record<string, unknown> }; output_metadata: unknown; ms: number };
    expect(out).toMatchObject({ op: 'ctx', ok: true, output_metadata: { seen: true } });
    expect(out.output.ctx).toMatchObject({
      tenant: 'acme',
      team: 'support',
      user: 'cli-user',
      env: 'prod',
      correlation: 'cli-session',
      flow: 'call',
      payload: { a: 1 },
    });
    expect(out.ms).toBeGreaterThan(0);
    console.log(`greentic-host call (one process, cold instance): ${out.ms} ms for the call itself`);
  });

  it('without --op runs the first op; names a missing op; exit and errors end in exit code 1', async () => {
    expect(JSON.parse((await greentic(['call', JS, ...scope, '--input', '{"said":"hi"}'])).stdout)).toEqual({ said: 'hi' });
    // The op's input schema (an object) is checked before the call.
    expect(await greentic(['call', JS, ...scope, '--input', '"hi"'])).toMatchObject({
      code: 1,
      stderr: 'greentic-host call: node error invalid-input: component "greentic-js" (op "echo"): the input must be object (the op\'s input schema)\n',
    });
    expect((await greentic(['call', JS, ...scope, '--op', 'nope', '--input', '{}'])).stderr).toBe(
      'greentic-host call: node error unknown-op: component "greentic-js" has no op "nope" (it describes: echo, route, ask, ctx, stderr, exit, fail, decline, data, bad-output, env)\n',
    );
    expect(await greentic(['call', JS, ...scope, '--op', 'exit', '--input', '{}'])).toMatchObject({
      code: 1,
      stderr: 'greentic-host call: node error guest-exit: component "greentic-js" called exit (status err); the call ends here\n',
    });
    const declined = await greentic(['call', JS, ...scope, '--op', 'decline', '--input', '{}']);
    expect(declined).toMatchObject({ code: 1, stderr: 'greentic-host call: component answered ok: false (op "decline")\n' });
    expect(JSON.parse(declined.stdout)).toEqual({ code: 'declined', message: 'the component declined', retryable: false });
  });

  it('takes its whole payload in --input: the flags of our own world are refused', async () => {
    const r = await greentic(['call', JS, ...scope, '--input', '{}', '--config', '{}']);
    expect(r).toMatchObject({
      code: 2,
      stderr: 'greentic-host call: --config is for greentic:host components; a Greentic component takes its whole payload in --input (see --help)\n',
    });
    expect((await greentic(['call', JS, ...scope, '--input', 'not json'])).stderr).toMatch(/^greentic-host call: --input is not valid JSON: /);
    const ours = await greentic(['call', join(process.cwd(), 'build', 'components', 'reply', 'reply.wasm'), ...scope, '--op', 'x', '--input', 'hi']);
    expect(ours).toMatchObject({
      code: 2,
      stderr: 'greentic-host call: --op is for Greentic components (greentic:component/node@0.6); this one exports greentic:host/node (see --help)\n',
    });
  });

  it('without a manifest serves the WASI it imports, in the sandbox; with one, only what it requests', async () => {
    const bare = join(work.dir, 'bare');
    mkdirSync(bare);
    copyFileSync(JS, join(bare, 'greentic-js.wasm'));
    const r = await greentic(['call', join(bare, 'greentic-js.wasm'), ...scope, '--op', 'env', '--input', '{}']);
    expect(r.stderr).toBe(
      'note: no manifest for ' +
        join(bare, 'greentic-js.wasm') +
        '; the component gets the WASI it imports, in the sandbox (no environment, directories or network)\n',
    );
    expect(JSON.parse(r.stdout)).toEqual({ text: 'environment: 0 variables, 0 arguments, cwd none' });
    copyFileSync(fixtureWasm('greentic-preopens'), join(bare, 'greentic-preopens.wasm'));
    writeFileSync(join(bare, 'manifest.yaml'), 'name: dirs\nversion: 0.1.0\n');
    const strict = await greentic(['call', join(bare, 'greentic-preopens.wasm'), ...scope, '--input', '{}']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/: component "dirs" imports wasi:filesystem\/preopens, which its manifest does not request \(capabilities\.wasi\)\n$/);
  });

  it("finds Greentic's component.manifest.json above the .wasm in a Rust project's layout", async () => {
    const project = join(work.dir, 'my-component');
    mkdirSync(join(project, 'target', 'wasm32-wasip2', 'release'), { recursive: true });
    const wasm = join(project, 'target', 'wasm32-wasip2', 'release', 'greentic_js.wasm');
    copyFileSync(JS, wasm);
    writeFileSync(
      join(project, 'component.manifest.json'),
      JSON.stringify(greenticJsManifest({ homepage: 'https://example.com', artifacts: { component_wasm: 'target/wasm32-wasip2/release/greentic_js.wasm' } })),
    );
    const r = await greentic(['call', wasm, ...scope, '--op', 'route', '--input', '{"route":"x"}']);
    expect(r.stderr).toBe(
      'note: using my-component/component.manifest.json\nnote: component.manifest.json: ignored unknown field "homepage"\nnote: component.manifest.json: hashes.component_wasm is the all-zero placeholder; not checked\n',
    );
    expect(JSON.parse(r.stdout)).toEqual({ text: 'routing to x', route: 'x' });
  });
});

describe('greentic-host validate', () => {
  it('describes Greentic components in the sandbox and reports an op they do not have', async () => {
    const b = copyExamples();
    try {
      installTenantComponent(b.dir, 'acme', 'greentic-js', 'gjs');
      writeFiles(b.dir, {
        'tenants/acme/tenant.yaml': {
          tenant: 'acme',
          environments: { prod: {}, staging: {} },
          grants: { components: { reply: null, ask: null, branch: null, gjs: GREENTIC_WASI_GRANT } },
        },
        'tenants/acme/flows/acme_sales_flow.yaml': {
          name: 'acme_sales_flow',
          version: '1',
          start: 'x',
          nodes: [{ id: 'x', type: 'gjs', config: { op: 'echoo' } }],
        },
      });
      const r = await greentic(['validate', '--bundle', b.dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/acme_sales_flow\.yaml: nodes\.x\.config\.op: the component has no op "echoo" \(it describes: echo, route, /);
      writeFiles(b.dir, {
        'tenants/acme/flows/acme_sales_flow.yaml': {
          name: 'acme_sales_flow',
          version: '1',
          start: 'x',
          nodes: [{ id: 'x', type: 'gjs', config: { op: 'echo' } }],
        },
      });
      expect(await greentic(['validate', '--bundle', b.dir])).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/^bundle greentic-demo is valid: 2 tenants, 3 teams, 4 channels, 3 flows\nacme\/sales\/teams: acme_sales_flow /),
      });
    } finally {
      b.cleanup();
    }
  });
});
