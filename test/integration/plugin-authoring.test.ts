// A third-party author's path, run as README.md's "Writing a component in JS" tells it: every
// command below is taken from that section (so the README cannot drift from what works), run in
// a temporary stand-in for the checkout, and its output compared with what the README shows.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { CLI, EXAMPLES, ROOT, tempDir } from '../support/bundle.js';
import { ACME_SLACK, replies, startHost } from '../support/host.js';
import { readmeCommands, readmeSection, shellWords, type ReadmeCommand } from '../support/readme.js';

const SECTION = 'Writing a component in JS';
const BUILD_TIMEOUT = 180_000; // a cold componentize-js run on a busy machine

const work = tempDir('greentic-authoring-');
afterAll(() => work.cleanup());
// The README's commands run in the checkout, on its examples/, with the component at ../greet_user.
const checkout = join(work.dir, 'host');
const component = join(work.dir, 'greet_user');
mkdirSync(checkout);
cpSync(EXAMPLES, join(checkout, 'examples'), { recursive: true });

// The build cache of this run only: the README shows a first build, componentize step included.
const buildCache = join(work.dir, 'build-cache');
// `npm link` in the checkout, as the README says, without touching the machine's global npm: a
// greentic-host on PATH that runs this checkout's CLI.
const linked = join(work.dir, 'linked-bin');
mkdirSync(linked);
writeFileSync(join(linked, 'greentic-host'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });

const commands = readmeCommands(SECTION);
/** The README's command starting with `prefix` (it must be there). */
function readme(prefix: string): ReadmeCommand {
  const found = commands.find((c) => c.command.startsWith(prefix));
  if (!found) throw new Error(`README section "${SECTION}" has no command starting with ${JSON.stringify(prefix)}`);
  return found;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
/** Run one command line the way a shell in `checkout` would: npx greentic-host / npx tsc / node / cd DIR && npm test. */
function sh(command: string): Promise<Run> {
  const [first, second, ...rest] = shellWords(command);
  let file = process.execPath;
  let argv: string[];
  let cwd = checkout;
  if (first === 'npx' && second === 'greentic-host') argv = [CLI, ...rest];
  else if (first === 'npx' && second === 'tsc') argv = [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), ...rest];
  else if (first === 'node') argv = [second!, ...rest];
  else if (first === 'cd' && rest.join(' ') === '&& npm test') [file, argv, cwd] = ['npm', ['test'], join(checkout, second!)];
  else throw new Error(`the test cannot run ${JSON.stringify(command)}`);
  const env = { ...process.env, GREENTIC_LOG_LEVEL: 'warn', GREENTIC_BUILD_CACHE: buildCache, PATH: `${linked}:${process.env.PATH ?? ''}` };
  delete env.GREENTIC_HOST_CLI;
  return new Promise((resolve) => {
    execFile(file, argv, { cwd, env, timeout: BUILD_TIMEOUT }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const greentic = (args: string) => sh(`npx greentic-host ${args}`);
const lines = (text: string) => text.replace(/\n$/, '').split('\n');
// What changes from one build to the next: the time it took (the digest does not change).
const normalise = (l: string) => l.replace(/componentized in [\d.]+ m?s/, 'componentized in T');
const stillComponentizing = (l: string) => !/^ {2}still componentizing \(\d+ s\)$/.test(l);

let digest = '';

describe('writing a component, step by step as the README says', () => {
  it('1. scaffolds the component outside the checkout', async () => {
    const step = readme('npx greentic-host component new greet_user');
    const r = await sh(step.command);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const shown = step.output.slice(0, step.output.indexOf('...'));
    expect(lines(r.stdout).slice(0, shown.length)).toEqual(shown);
    for (const f of [
      'src/greet_user.js',
      'manifest.yaml',
      'jsconfig.json',
      'package.json',
      'test/greet_user.test.mjs',
      'README.md',
      'types/node-component.d.ts',
    ]) {
      expect(existsSync(join(component, f)), f).toBe(true);
    }
    expect(readFileSync(join(component, 'src', 'greet_user.js'), 'utf8')).toMatch(/^\/\/ @ts-check\n/);
    expect(readdirSync(join(component, 'types', 'interfaces')).sort()).toContain('greentic-host-state.d.ts');
  });

  it('2. type-checks the scaffolded source against the generated WIT types', async () => {
    const r = await sh(readme('npx tsc -p ../greet_user/jsconfig.json').command);
    expect(r).toMatchObject({ code: 0, stdout: '' });
    // The types are real: a wrong next step is an error.
    const source = join(component, 'src', 'greet_user.js');
    const good = readFileSync(source, 'utf8');
    writeFileSync(source, good.replace("next: { tag: 'proceed' }", "next: { tag: 'procede' }"));
    try {
      const bad = await sh(readme('npx tsc -p ../greet_user/jsconfig.json').command);
      expect(bad.code).not.toBe(0);
      expect(bad.stdout).toContain('"procede"');
    } finally {
      writeFileSync(source, good);
    }
  });

  it(
    '3. builds it and prints the digest',
    async () => {
      const step = readme('npx greentic-host component build ../greet_user');
      const r = await sh(step.command);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      // The README's digest exactly: the build is reproducible, here in another folder and at another time.
      expect(lines(r.stdout).filter(stillComponentizing).map(normalise)).toEqual(step.output.map(normalise));
      digest = /^sha256: ([0-9a-f]{64})$/m.exec(r.stdout)![1]!;
      const bytes = readFileSync(join(component, 'dist', 'greet_user.wasm'));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(digest);
      expect(parse(readFileSync(join(component, 'dist', 'manifest.yaml'), 'utf8'))).toMatchObject({
        name: 'greet_user',
        wasm: 'greet_user.wasm',
        sha256: digest,
      });
    },
    BUILD_TIMEOUT,
  );

  it('4. runs it once with greentic-host call', async () => {
    const step = readme('npx greentic-host call ../greet_user/dist/greet_user.wasm');
    const r = await sh(step.command);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual(step.output);
  });

  it(
    '3b. builds to the same bytes again: from the build cache at once, and componentized anew',
    async () => {
      const wasm = join(component, 'dist', 'greet_user.wasm');
      const cachedRun = await greentic('component build ../greet_user');
      expect(cachedRun).toMatchObject({ code: 0, stderr: '' });
      expect(lines(cachedRun.stdout)).toContain('unchanged since an earlier build: taken from the build cache (../build-cache)');
      expect(cachedRun.stdout).not.toContain('componentizing');
      expect(cachedRun.stdout).toContain(`sha256: ${digest}\n`);
      const fresh = await greentic('component build ../greet_user --no-cache');
      expect(fresh).toMatchObject({ code: 0, stderr: '' });
      expect(fresh.stdout).toContain('componentized in ');
      expect(fresh.stdout).toContain(`sha256: ${digest}\n`);
      expect(createHash('sha256').update(readFileSync(wasm)).digest('hex')).toBe(digest);
    },
    BUILD_TIMEOUT,
  );

  it('3c. refuses an import the manifest does not cover, at build time, leaving dist/ as it was', async () => {
    const manifestFile = join(component, 'manifest.yaml');
    const good = readFileSync(manifestFile, 'utf8');
    writeFileSync(manifestFile, good.replace('state: write', 'state: read').replace('messaging: true', 'messaging: false'));
    try {
      const r = await greentic('component build ../greet_user');
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        [
          'greentic-host component: 2 imports the manifest does not allow:',
          '../greet_user/src/greet_user.js imports send from greentic:host/messaging@0.1.0, but ../greet_user/manifest.yaml: capabilities.messaging is false (use true); change the manifest, or remove the import',
          '../greet_user/src/greet_user.js imports set from greentic:host/state@0.1.0, but ../greet_user/manifest.yaml: capabilities.state is read (use write); change the manifest, or remove the import',
          '',
        ].join('\n'),
      );
      expect(
        createHash('sha256')
          .update(readFileSync(join(component, 'dist', 'greet_user.wasm')))
          .digest('hex'),
      ).toBe(digest);
    } finally {
      writeFileSync(manifestFile, good);
    }
  });

  it('4b. checks --config against the config_schema, and names a denied capability call', async () => {
    const step = readme("npx greentic-host call ../greet_user/dist/greet_user.wasm --tenant acme --env prod --input hi --config '{}'");
    const bad = await sh(step.command);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(lines(bad.stderr)).toEqual(step.output);
    // A manifest that withholds state: the guest's set() is denied, and call says which and why.
    const withheld = join(work.dir, 'withheld.yaml');
    writeFileSync(withheld, readFileSync(join(component, 'dist', 'manifest.yaml'), 'utf8').replace('state: write', 'state: read'));
    const r = await greentic(`call ../greet_user/dist/greet_user.wasm --manifest ${withheld} --tenant acme --env prod --input hi --config '{"greeting":"Hi"}'`);
    expect(r.code).toBe(1);
    // The denial is also a warn log line (the operator's record); the last line is the one for the author.
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^greentic-host call: node error [a-z-]+: .*; before it failed, the host denied state\.set: [^\n]+$/);
  });

  it('5. passes the scaffolded node:test test', async () => {
    // The spec reporter prints the same summary on Node 20 and 26 (bare \`node --test\` picks TAP
    // on Node 20 when stdout is not a terminal, spec on 23+), so the README names it.
    const step = readme('cd ../greet_user && npm test');
    const r = await sh(step.command);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const summary = step.output.filter((o) => o.startsWith('ℹ'));
    expect(summary).toEqual(['ℹ pass 3', 'ℹ fail 0']);
    for (const l of summary) expect(r.stdout).toContain(`${l}\n`);
  });

  it('6. installs it as a tenant component, pinned, granted and used in a flow', async () => {
    const section = readmeSection(SECTION);
    expect(section).toContain('$ mkdir -p examples/tenants/acme/components/greet_user');
    expect(section).toContain('$ cp ../greet_user/dist/* examples/tenants/acme/components/greet_user/');
    const installed = join(checkout, 'examples', 'tenants', 'acme', 'components', 'greet_user');
    mkdirSync(installed, { recursive: true });
    for (const f of readdirSync(join(component, 'dist'))) cpSync(join(component, 'dist', f), join(installed, f));
    const tail = lines(readFileSync(join(installed, 'manifest.yaml'), 'utf8')).slice(-2);
    expect(tail).toEqual(readme('tail -2 examples/tenants/acme/components/greet_user/manifest.yaml').output);
    expect(tail[1]).toBe(`sha256: ${digest}`);

    // grants.components.greet_user in tenant.yaml, and the first node of the support flow.
    const tenantFile = join(checkout, 'examples', 'tenants', 'acme', 'tenant.yaml');
    const tenant = parse(readFileSync(tenantFile, 'utf8')) as { grants: { components: Record<string, unknown> } };
    tenant.grants.components.greet_user = {};
    writeFileSync(tenantFile, stringify(tenant));
    const flowFile = join(checkout, 'examples', 'tenants', 'acme', 'flows', 'acme_support_flow.yaml');
    const flow = parse(readFileSync(flowFile, 'utf8')) as { nodes: Array<Record<string, unknown>> };
    flow.nodes[0] = { id: 'greet', type: 'greet_user', config: { greeting: 'Welcome to ACME Support! How can I help?' }, next: 'ask_issue' };
    writeFileSync(flowFile, stringify(flow));
    expect(section).toContain('    type: greet_user\n    config: { greeting: "Welcome to ACME Support! How can I help?" }');

    const validate = readme('npx greentic-host validate --bundle examples');
    expect(lines((await sh(validate.command)).stdout)).toEqual(validate.output);
    const send = readme('npx greentic-host send --bundle examples');
    const sent = await sh(send.command);
    expect(sent.code, sent.stderr).toBe(0);
    expect(lines(sent.stdout)).toEqual(send.output);

    // The same through a running host: another user's first visit, other tenants unaffected.
    const t = await startHost({ bundleDir: join(checkout, 'examples'), workers: 1 });
    try {
      expect(t.host.problems.map(formatProblem)).toEqual([]);
      expect(replies(await t.say(ACME_SLACK, 'u7', 'hello'))).toEqual(['Welcome to ACME Support! How can I help? (visit 1)']);
      expect(replies(await t.say(ACME_SLACK, 'u7', 'I was charged twice'))).toEqual(['Sorry about the billing trouble. What is the email on your account?']);
    } finally {
      await t.close();
    }
  });
});

describe('what an author gets wrong', () => {
  it('a NAME outside the id grammar is bad usage: exit 2, one line', async () => {
    const r = await greentic('component new Greet-User');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'greentic-host component: invalid component id "Greet-User" in NAME: it has upper-case letters; ids are lower case (^[a-z0-9][a-z0-9_-]{0,62}$) (see --help)\n',
    );
  });

  it('never scaffolds over a folder with something in it', async () => {
    const r = await sh(readme('npx greentic-host component new greet_user').command);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe('greentic-host component: ../greet_user already exists and is not empty; choose another --dir (nothing was written)\n');
  });

  it('a syntax error fails the build with one message naming the file and line', async () => {
    const broken = join(work.dir, 'broken');
    cpSync(component, broken, { recursive: true, filter: (src) => !src.includes(`${join(component, 'dist')}`) });
    const source = join(broken, 'src', 'greet_user.js');
    writeFileSync(source, readFileSync(source, 'utf8').replace('const visits = Number(', 'const visits = = Number('));
    const r = await greentic('component build ../broken');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^greentic-host component: \.\.\/broken\/src\/greet_user\.js:\d+:\d+: Unexpected "="\n/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(broken, 'dist'))).toBe(false);
  });

  it('a broken manifest is reported as FILE: PATH: MESSAGE', async () => {
    const dir = join(work.dir, 'misnamed');
    mkdirSync(dir);
    expect((await greentic('component build ../misnamed')).stderr).toBe(
      'greentic-host component: ../misnamed/manifest.yaml: file not found (a component folder has one; greentic-host component new NAME makes a folder)\n',
    );
    writeFileSync(join(dir, 'manifest.yaml'), 'name: misnamed\nversion: "1"\ncapabilities: { colour: blue }\n');
    const r = await greentic('component build ../misnamed');
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      'greentic-host component: the manifest has 2 problems:',
      '../misnamed/manifest.yaml: version: expected a semantic version like 1.2.3',
      '../misnamed/manifest.yaml: capabilities.colour: unknown key',
    ]);
    writeFileSync(join(dir, 'manifest.yaml'), 'name: misnamed\nversion: 0.1.0\nsource: src/misnamed.js\n');
    expect((await greentic('component build ../misnamed')).stderr).toBe(
      'greentic-host component: ../misnamed/src/misnamed.js: file not found (../misnamed/manifest.yaml names it as source)\n',
    );
  });

  it('has --help for component, new and build', async () => {
    for (const args of ['component --help', 'component new --help', 'component build --help']) {
      const r = await greentic(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: greentic-host component /);
    }
    expect((await greentic('component')).code).toBe(2);
  });
});
