// `greentic-host dev` on a copy of the example bundle, run from a folder below the bundle (it
// finds bundle.yaml above): a tenant component kept as WAT sources is built at start; editing
// its source rebuilds it and reloads only its tenant; a flow edit reloads without a rebuild; a
// broken flow and a component that does not build keep the last good version serving; the fix
// is served. Every line the loop prints is checked exactly (only the milliseconds vary).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, copyExamples, writeFiles } from '../support/bundle.js';
import { eventually } from '../support/serve-process.js';

/** A node that replies `text` and proceeds (no imports). */
function helloWat(text: string): string {
  return `;; hello: replies a fixed text and proceeds.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 3)))
    (local.get $ptr))
  (func (export "greentic:host/node@0.1.0#invoke") (param $p i32) (result i32)
    (i32.store (i32.const 3000) (i32.const 256))
    (i32.store offset=4 (i32.const 3000) (i32.const ${Buffer.byteLength(text)}))
    (i32.store8 (i32.const 3500) (i32.const 0))
    (i32.store offset=4 (i32.const 3500) (i32.const 3000))
    (i32.store offset=8 (i32.const 3500) (i32.const 1))
    (i32.store8 offset=12 (i32.const 3500) (i32.const 0))
    (i32.const 3500))
  (func (export "cabi_post_greentic:host/node@0.1.0#invoke") (param i32)
    (global.set $heap (i32.const 4096)))
  (data (i32.const 256) "${text}")
)
`;
}

const bundle = copyExamples();
const TENANT = join(bundle.dir, 'tenants', 'bigcorp');
const SOURCE = join(TENANT, 'components', 'hello', 'hello.wat');
const FLOW = join(TENANT, 'flows', 'bigcorp_helpdesk_flow.yaml');
const GREETING = "BigCorp Helpdesk here. What's your issue?";
let dev: ChildProcess;
let out = '';
let base = '';

/** The loop's lines so far (the ready line's webchat and webhook lines left out), milliseconds as N. */
function lines(): string[] {
  return out
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('  webhook: ') && !l.startsWith('  component '))
    .map((l) =>
      l
        .replace(/\bin \d+ ms/, 'in N ms')
        .replace(/^greentic-host ready: .*$/, 'READY')
        .replace(/^greentic-host: loading .*$/, 'LOADING'),
    );
}

let seen = 4;
/** Wait for the loop's next line to be printed; returns it and the problem lines under it. */
async function next(what: string): Promise<string[]> {
  await eventually(() => lines().length > seen && !lines()[lines().length - 1]!.endsWith(':'), `${what} (output so far:\n${out})`, 60_000);
  const got = lines().slice(seen);
  seen += got.length;
  return got;
}

async function say(text: string): Promise<string[]> {
  const res = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return ((await res.json()) as { replies: string[] }).replies;
}

/**
 * Save `file` as an editor does: the new text beside it, then renamed over it. (Written in place,
 * the watcher may see the file truncated before its text is in, and a reload at that moment
 * reports an empty file: a true line, but not the one this test is about.)
 */
function save(file: string, text: string): void {
  // Written outside the watched folders (the test's bundle is in the same temp file system).
  const saving = join(tmpdir(), `greentic-dev-saving-${process.pid}`);
  writeFileSync(saving, text);
  renameSync(saving, file);
}

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} has no ${JSON.stringify(from)}`);
  save(file, text.replace(from, to));
}

beforeAll(async () => {
  // bigcorp (inline in bundle.yaml) is granted its own component, kept as sources, first in its flow.
  edit(join(bundle.dir, 'bundle.yaml'), '  bigcorp:\n', '  bigcorp:\n    grants: { components: { reply: {}, ask: {}, branch: {}, hello: {} } }\n');
  writeFiles(TENANT, {
    'components/hello/manifest.yaml': 'name: hello\nversion: 0.1.0\nsummary: Replies a fixed text.\nsource: hello.wat\n',
    'components/hello/hello.wat': helloWat('hello v1'),
  });
  edit(FLOW, 'start: greet\nnodes:\n', 'start: hello\nnodes:\n  - id: hello\n    type: hello\n    next: greet\n\n');
  dev = spawn(process.execPath, [CLI, 'dev', '--port', '0'], {
    cwd: TENANT,
    env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => /API (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.test(out), `dev's ready line (output so far:\n${out})`, 90_000);
  base = /API (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(out)![1]!;
}, 120_000);

afterAll(async () => {
  if (dev && dev.exitCode === null) {
    const gone = new Promise((r) => dev.once('exit', r));
    dev.kill('SIGTERM');
    await gone;
  }
  bundle.cleanup();
});

describe('greentic-host dev', () => {
  it('builds at start, then rebuilds and reloads what changes, one line each; broken versions never replace the served one', async () => {
    expect(lines()).toEqual(['greentic-host dev: bundle ../..', 'built bigcorp/hello in N ms', 'LOADING', 'READY']);
    expect(await say('hi')).toEqual(['hello v1', GREETING]);

    save(SOURCE, helloWat('hello v2'));
    expect(await next('the reload after the source edit')).toEqual(['reloaded bigcorp (flows: 1, components: 1 rebuilt) in N ms']);
    expect(await say('hi')).toEqual(['hello v2', GREETING]);

    edit(FLOW, GREETING, 'BigCorp Helpdesk: what is the issue?');
    expect(await next('the reload after the flow edit')).toEqual(['reloaded bigcorp (flows: 1, components: 0 rebuilt) in N ms']);
    expect(await say('hi')).toEqual(['hello v2', 'BigCorp Helpdesk: what is the issue?']);

    edit(FLOW, '    next: greet\n', '    next: greeet\n');
    expect(await next('the refusal of the broken flow')).toEqual([
      'bigcorp keeps its last good version: 1 problem (in N ms):',
      '  flows/bigcorp_helpdesk_flow.yaml: nodes.hello.next: no node "greeet" in this flow (did you mean "greet"?)',
    ]);
    expect(await say('hi')).toEqual(['hello v2', 'BigCorp Helpdesk: what is the issue?']);
    // Fixed, it is the version served: unchanged, said because the last line was a problem.
    edit(FLOW, '    next: greeet\n', '    next: greet\n');
    expect(await next('the fixed flow')).toEqual(['unchanged bigcorp (flows: 1, components: 0 rebuilt) in N ms']);

    edit(SOURCE, '(module', '(modul');
    expect(await next('the failed build')).toEqual([
      'bigcorp keeps its last good version: hello did not build (in N ms):',
      '  components/hello/hello.wat:2:2: expected valid module field',
    ]);
    expect(await say('hi')).toEqual(['hello v2', 'BigCorp Helpdesk: what is the issue?']);
    save(SOURCE, helloWat('hello v3'));
    expect(await next('the reload after the fix')).toEqual(['reloaded bigcorp (flows: 1, components: 1 rebuilt) in N ms']);
    expect(await say('hi')).toEqual(['hello v3', 'BigCorp Helpdesk: what is the issue?']);
    // Nothing more: the build's own writes to dist/ print nothing.
    expect(lines().length).toBe(seen);
  }, 180_000);
});
