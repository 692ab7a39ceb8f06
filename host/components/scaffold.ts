/**
 * The files `greentic-host component new NAME` writes: a working JS component that uses the
 * state and messaging capabilities, its manifest, editor settings for the generated WIT types,
 * a package.json with build and test scripts, a test that runs the built component through
 * `greentic-host call`, and a README. Nothing in them names a path of this machine: the folder
 * works wherever it is moved, with `greentic-host` found on PATH (or GREENTIC_HOST_CLI).
 */

export interface ScaffoldInput {
  /** The component's name, already checked against the id grammar. */
  readonly name: string;
  /** Generated guest type declarations, file name (relative to types/) -> text. */
  readonly types: Readonly<Record<string, string>>;
}

/** Every file of a new component folder, path relative to the folder -> text. */
export function scaffoldFiles(input: ScaffoldInput): Record<string, string> {
  const { name } = input;
  const files: Record<string, string> = {
    [`src/${name}.js`]: sourceFile(name),
    'manifest.yaml': manifestFile(name),
    'jsconfig.json': `${JSON.stringify(JSCONFIG, null, 2)}\n`,
    'package.json': `${JSON.stringify(packageJson(name), null, 2)}\n`,
    [`test/${name}.test.mjs`]: testFile(name),
    'README.md': readmeFile(name),
    '.gitignore': 'dist/\n',
  };
  for (const [file, text] of Object.entries(input.types)) files[`types/${file}`] = text;
  return files;
}

// The generated declarations are ambient (`declare module 'greentic:host/state@0.1.0'`), so
// including types/ is what makes those imports resolve; `types: []` keeps whatever @types a
// parent folder has out of the check.
const JSCONFIG = {
  compilerOptions: {
    checkJs: true,
    allowJs: true,
    noEmit: true,
    strict: true,
    target: 'ES2022',
    lib: ['ES2022'],
    module: 'ESNext',
    moduleResolution: 'bundler',
    types: [],
  },
  include: ['src/**/*.js', 'types/**/*.d.ts'],
};

/** npm scripts: `npm run build`, `npm test` (greentic-host on PATH: npm link, or a devDependency). */
function packageJson(name: string): Record<string, unknown> {
  return {
    name: name.replaceAll('_', '-'),
    version: '0.1.0',
    private: true,
    type: 'module',
    description: 'A greentic-host flow node component',
    scripts: {
      build: 'greentic-host component build .',
      test: `node --test --test-reporter=spec test/${name}.test.mjs`,
    },
  };
}

function sourceFile(name: string): string {
  return `// @ts-check
// ${name}: a greentic-host flow node. It greets the user with config.greeting and counts their
// visits in the session state. Built into a WebAssembly component by
//   greentic-host component build <this folder>      (writes dist/${name}.wasm)
// It runs sandboxed: no filesystem, network, clocks or randomness (Date.now() is frozen at build
// time). Everything else it can do is a host capability imported below; each one must also be
// requested in manifest.yaml, or its calls are refused. Types: ../types/ (see jsconfig.json).
import { get, set } from 'greentic:host/state@0.1.0';
import { send } from 'greentic:host/messaging@0.1.0';

/**
 * The node contract (WIT interface greentic:host/node): the host calls invoke each time a flow
 * reaches this node.
 * @type {typeof import('greentic:host/node@0.1.0')}
 */
export const node = {
  /**
   * @param ctx the tenant-ctx the host bound to this call (tenantId, envId, teamId, sessionId,
   *   userId, traceId). Pass it back unchanged to every capability: a changed ctx is refused.
   * @param input the invocation: nodeId (this node's id in the flow), message (text, userId,
   *   channel), config (the node's \`config\` in the flow as a JSON string, already checked against
   *   manifest.yaml's config_schema) and resumed (true when the flow was waiting at this node).
   */
  invoke(ctx, input) {
    /** @type {{ greeting: string }} */
    const config = JSON.parse(input.config);

    // state (manifest: state: write): the session's working memory, string keys to string values.
    const visits = Number(get(ctx, 'visits') ?? '0') + 1;
    set(ctx, 'visits', String(visits));

    // messaging (manifest: messaging: true): a message to the user on the channel this one came
    // in on; it is sent when the turn commits.
    send(ctx, input.message.channel, \`\${config.greeting} (visit \${visits})\`);

    // A refused capability call throws; its payload is the WIT cap-error, e.g.
    // { tag: 'access-denied', val: 'why' }. To fail the node yourself:
    //   throw { code: 'bad-input', message: 'why', retryable: false };

    // The next step:
    //   { tag: 'proceed' }             follow the node's \`next\` (or end the run if it has none)
    //   { tag: 'route', val: 'label' } take the node's route whose \`when\` is 'label'
    //   { tag: 'wait' }                stop; the user's next message calls this node again (resumed: true)
    //   { tag: 'end' }                 end the flow run
    // replies: texts for the user on the incoming channel, returned rather than sent (no capability needed).
    return { replies: [], next: { tag: 'proceed' } };
  },
};
`;
}

function manifestFile(name: string): string {
  return `# What ${name} needs. Nothing else is available to it, and a tenant must also grant it
# (grants.components.${name} in the tenant's config) before its flows can use it.
name: ${name}
version: 0.1.0
summary: Greets the user with config.greeting and counts their visits.
source: src/${name}.js
capabilities:
  state: write       # none | read | write: it reads and writes "visits"
  messaging: true    # it sends the greeting with messaging.send
  log: false
  secrets: []        # names of secrets it may read (the tenant must grant them too)
limits: { deadline_ms: 2000, memory_mib: 64 }
config_schema:       # JSON Schema of the node's config in a flow; checked when the flow loads
  type: object
  properties:
    greeting: { type: string, minLength: 1, maxLength: 200 }
  required: [greeting]
  additionalProperties: false
`;
}

function testFile(name: string): string {
  return `// Runs the built component (dist/${name}.wasm) once through the host, in its sandbox, with
// \`greentic-host call --json\`, and checks what it did. Build first, then: npm test
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

// greentic-host from PATH (npm link in its checkout, or a devDependency: npm test puts
// node_modules/.bin on PATH); GREENTIC_HOST_CLI may name its bin/greentic-host.mjs instead.
const CLI = process.env.GREENTIC_HOST_CLI;
const WASM = fileURLToPath(new URL('../dist/${name}.wasm', import.meta.url));
// call keeps secrets (and their master key) in a data directory: use a throwaway one.
const data = mkdtempSync(join(tmpdir(), '${name}-test-'));
after(() => rmSync(data, { recursive: true, force: true }));

/** Run the component once; resolves to the parsed --json output. */
function call(args) {
  return new Promise((resolve, reject) => {
    const argv = ['call', WASM, '--tenant', 'acme', '--env', 'prod', '--team', 'support', '--data', data, '--json', ...args];
    const [file, fileArgs] = CLI ? [process.execPath, [CLI, ...argv]] : ['greentic-host', argv];
    execFile(file, fileArgs, { env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn' } }, (err, stdout, stderr) => {
      if (err?.code === 'ENOENT') reject(new Error('greentic-host is not on PATH: run npm link in its checkout, or set GREENTIC_HOST_CLI to its bin/greentic-host.mjs'));
      else if (err) reject(new Error(\`greentic-host call failed (exit \${err.code}): \${stderr.trim()}\`));
      else resolve(JSON.parse(stdout));
    });
  });
}

test('dist/${name}.wasm is built', () => {
  assert.ok(existsSync(WASM), \`\${WASM} is missing: run greentic-host component build first\`);
});

test('greets the user and counts the visit in state', async () => {
  const out = await call(['--input', 'hi', '--config', JSON.stringify({ greeting: 'Hello' }), '--state', JSON.stringify({ visits: '2' })]);
  assert.deepEqual(out.replies, ['Hello (visit 3)']);
  assert.deepEqual(out.next, { tag: 'proceed' });
  assert.deepEqual(out.state, { visits: '3' });
  assert.equal(out.denials, 0);
});

test('starts counting at 1 in a new session', async () => {
  const out = await call(['--input', 'hi', '--config', JSON.stringify({ greeting: 'Welcome' })]);
  assert.deepEqual(out.replies, ['Welcome (visit 1)']);
  assert.deepEqual(out.state, { visits: '1' });
});
`;
}

function readmeFile(name: string): string {
  return `# ${name}

A greentic-host flow node component, written in JS. It sends
\`config.greeting\` to the user with a visit count kept in the session state.

| file | what |
|---|---|
| \`src/${name}.js\` | the component: exports \`node.invoke(ctx, input)\` and imports host capabilities |
| \`manifest.yaml\` | what it needs: capabilities, limits, the schema of its config |
| \`types/\`, \`jsconfig.json\` | TypeScript declarations of the \`greentic:host/node-component\` WIT world, so your editor completes \`ctx\`, \`input\` and the capability imports |
| \`package.json\` | \`npm run build\` and \`npm test\` |
| \`test/${name}.test.mjs\` | runs the built component through \`greentic-host call --json\` |
| \`dist/\` | what \`component build\` writes: \`${name}.wasm\` and a \`manifest.yaml\` that pins its sha256 |

The scripts and the test run \`greentic-host\` from PATH: run \`npm link\` once in the
greentic-host checkout (or add it as a devDependency of this folder). The folder names no path
of its own: move it anywhere.

## Build, try, test

\`\`\`sh
npm run build                            # greentic-host component build .: progress, then sha256: <digest>
greentic-host call dist/${name}.wasm --tenant acme --env prod --team support \\
    --input hi --config '{"greeting":"Hello"}' --state '{"visits":"2"}'
npm test
\`\`\`

The same source always builds to the same bytes and digest; an unchanged build is taken from
greentic-host's build cache at once. Your editor checks the source against the WIT types as
you type; from a shell: \`npx -p typescript tsc -p jsconfig.json\`.

## Use it in a bundle

Copy \`dist/\` to \`tenants/<tenant>/components/${name}/\` of the bundle: its \`manifest.yaml\`
names \`wasm: ${name}.wasm\` and pins the \`sha256:\` the build printed, and the host refuses bytes
that do not match. Grant it in the tenant's config (\`grants: { components: { ${name}: {} } }\`)
and use it in a flow:

\`\`\`yaml
- id: greet
  type: ${name}
  config: { greeting: "Welcome!" }
  next: ask_issue
\`\`\`

Rebuilding changes the digest: copy \`dist/\` again after every build.
`;
}
