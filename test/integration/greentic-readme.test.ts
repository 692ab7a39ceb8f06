// README.md's "Running Greentic components", run as it is written: its commands, in this
// checkout (describe, call) and in a temporary copy of the example bundle (install, validate,
// send), their output compared with what the README shows.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, EXAMPLES, ROOT, tempDir } from '../support/bundle.js';
import { readmeCommands, readmeSection, shellWords, type ReadmeCommand } from '../support/readme.js';

const SECTION = 'Running Greentic components';
const commands = readmeCommands(SECTION);
const section = readmeSection(SECTION);
const work = tempDir('greentic-readme-');
afterAll(() => work.cleanup());

function readme(prefix: string): ReadmeCommand {
  const found = commands.find((c) => c.command.startsWith(prefix));
  if (!found) throw new Error(`README section "${SECTION}" has no command starting with ${JSON.stringify(prefix)}`);
  return found;
}

/** Run `npx greentic-host ...` from the README in `cwd`. */
function greentic(command: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const [npx, name, ...args] = shellWords(command);
  if (npx !== 'npx' || name !== 'greentic-host') throw new Error(`the test cannot run ${JSON.stringify(command)}`);
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const lines = (text: string) => text.replace(/\n$/, '').split('\n');

describe("the README's Greentic walkthrough", () => {
  it('describes the test component, as shown up to "..."', async () => {
    const step = readme('npx greentic-host describe build/fixtures/greentic-js/greentic-js.wasm');
    const r = await greentic(step.command, ROOT);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const shown = step.output.slice(0, step.output.indexOf('...'));
    expect(lines(r.stdout).slice(0, shown.length)).toEqual(shown);
  });

  it('calls one op on a JSON payload', async () => {
    const step = readme('npx greentic-host call build/fixtures/greentic-js/greentic-js.wasm');
    const r = await greentic(step.command, ROOT);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(lines(r.stdout)).toEqual(step.output);
  });

  it('installs it in the example bundle with its component.manifest.json and pin, grants it, and runs a conversation', async () => {
    // The install commands, done here as the README writes them.
    expect(section).toContain('$ mkdir -p examples/tenants/acme/components/greeter\n');
    expect(section).toContain(
      '$ cp build/fixtures/greentic-js/greentic-js.wasm test/fixtures/greentic-js/component.manifest.json examples/tenants/acme/components/greeter/\n',
    );
    expect(section).toContain('$ cd examples/tenants/acme/components/greeter && sha256sum greentic-js.wasm > component.sha256 && cd -\n');
    const examples = join(work.dir, 'examples');
    cpSync(EXAMPLES, examples, { recursive: true });
    const dir = join(examples, 'tenants', 'acme', 'components', 'greeter');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(ROOT, 'build', 'fixtures', 'greentic-js', 'greentic-js.wasm'), join(dir, 'greentic-js.wasm'));
    copyFileSync(join(ROOT, 'test', 'fixtures', 'greentic-js', 'component.manifest.json'), join(dir, 'component.manifest.json'));
    const sha = createHash('sha256')
      .update(readFileSync(join(dir, 'greentic-js.wasm')))
      .digest('hex');
    writeFileSync(join(dir, 'component.sha256'), `${sha}  greentic-js.wasm\n`);

    // The grant and the first node, from the README's YAML.
    const grant = /```yaml\ngrants:\n {2}components:\n {4}greeter: (.*)\n```/.exec(section)![1]!;
    const tenantFile = join(examples, 'tenants', 'acme', 'tenant.yaml');
    const tenant = parse(readFileSync(tenantFile, 'utf8')) as { grants: { components: Record<string, unknown> } };
    tenant.grants.components.greeter = parse(grant);
    writeFileSync(tenantFile, stringify(tenant));
    const node = /```yaml\n( {2}- id: greet\n {4}type: greeter\n[\s\S]*?)```/.exec(section)![1]!;
    const flowFile = join(examples, 'tenants', 'acme', 'flows', 'acme_support_flow.yaml');
    const flow = parse(readFileSync(flowFile, 'utf8')) as { nodes: unknown[] };
    flow.nodes[0] = (parse(node) as unknown[])[0];
    writeFileSync(flowFile, stringify(flow));

    const validate = readme('npx greentic-host validate --bundle examples');
    expect(await greentic(validate.command, work.dir)).toMatchObject({ code: 0, stdout: `${validate.output.join('\n')}\n` });
    for (const send of commands.filter((c) => c.command.startsWith('npx greentic-host send --bundle examples'))) {
      const r = await greentic(send.command, work.dir);
      expect(r.code, r.stderr).toBe(0);
      expect(lines(r.stdout)).toEqual(send.output);
    }
  });
});
