import { spawn, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, ftruncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../dist/cli/main.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost } from '../support/host.js';
import { brokenCorpus, type BrokenFile } from '../support/broken-files.js';
import { CLI, copyExamples, tempDir } from '../support/bundle.js';

const SEED = Number(process.env.GREENTIC_CORPUS_SEED ?? 20261201);
const corpus = brokenCorpus(Number(process.env.GREENTIC_CORPUS_SIZE ?? 24), SEED);
const bundle = copyExamples();
const PEM = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** Put `b` at `file`: bytes, a directory, or a sparse file over the size limit. */
function place(file: string, b: BrokenFile['content'] | string): void {
  mkdirSync(dirname(file), { recursive: true });
  if (typeof b === 'string' || Buffer.isBuffer(b)) writeFileSync(file, b);
  else if ('directory' in b) mkdirSync(file, { recursive: true });
  else if ('sparseBytes' in b) {
    const fd = openSync(file, 'w');
    ftruncateSync(fd, b.sparseBytes);
    closeSync(fd);
  }
}

/** Tenant `id`: valid in every file but the one `broken` replaces. */
function brokenTenant(id: string, broken: BrokenFile): void {
  const dir = join(bundle.dir, 'tenants', id);
  const usesComponent = ['manifest.yaml', 'component.manifest.json', 'component.sha256', 'wasm'].includes(broken.kind);
  const files: Record<string, string | Buffer> = {
    'tenant.yaml': `tenant: ${id}\nenvironments: { prod: {} }\ngrants: { components: { reply: {}, mine: {} } }\napi: { keys: [{ alg: EdDSA, public_key_file: tenants/${id}/keys/k.pem }] }\n`,
    'teams/web.yaml': 'team: web\nchannels: { webchat: { provider: webchat, flow: main } }\n',
    'flows/main.yaml': `name: main\nversion: "1"\nstart: a\nnodes: [{ id: a, type: ${usesComponent ? 'mine' : 'reply'}, config: { message: hi } }]\n`,
    'keys/k.pem': PEM,
  };
  if (broken.kind === 'wasm') {
    const sha = Buffer.isBuffer(broken.content) ? createHash('sha256').update(broken.content).digest('hex') : 'a'.repeat(64);
    files['components/mine/manifest.yaml'] = `name: mine\nversion: 1.0.0\nwasm: mine.wasm\nsha256: ${sha}\n`;
  }
  if (broken.kind === 'component.manifest.json') files['components/mine/component.sha256'] = `${'a'.repeat(64)}  mine.wasm\n`;
  const target = {
    'tenant.yaml': 'tenant.yaml',
    team: 'teams/web.yaml',
    flow: 'flows/main.yaml',
    'manifest.yaml': 'components/mine/manifest.yaml',
    'component.manifest.json': 'components/mine/component.manifest.json',
    'component.sha256': 'components/mine/component.sha256',
    wasm: 'components/mine/mine.wasm',
    'public key': 'keys/k.pem',
  }[broken.kind];
  for (const [rel, content] of Object.entries(files)) if (rel !== target) place(join(dir, rel), content);
  place(join(dir, target), broken.content);
}

const broken = corpus.map((b, i) => ({ id: `broken${i}`, file: b }));
beforeAll(() => {
  for (const b of broken) brokenTenant(b.id, b.file);
  // A named pipe where a flow should be: reading it must not hang the loader.
  brokenTenant('fifo', { kind: 'public key', how: 'nothing broken', content: Buffer.from(PEM) });
  execFileSync('mkfifo', [join(bundle.dir, 'tenants/fifo/flows/pipe.yaml')]);
});
afterAll(() => bundle.cleanup());

describe(`a generated corpus of ${corpus.length} broken files (seed ${SEED}), one per tenant`, () => {
  it('covers every kind of file and every way of breaking it', () => {
    const kinds = new Set(corpus.map((b) => b.kind));
    expect(kinds.size).toBe(8);
    expect(corpus.map((b) => `${b.kind}: ${b.how}`)).toEqual(
      expect.arrayContaining(['tenant.yaml: alias bomb of 10 levels', 'flow: alias bomb of 10 levels', 'wasm: import names that are not UTF-8']),
    );
  });

  it('validate reports a problem of each broken tenant, with its file, and never crashes', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['validate', '--bundle', bundle.dir], { out: (l) => out.push(l), err: (l) => err.push(l), stdin: process.stdin });
    const text = err.join('\n');
    expect(code, text).toBe(1);
    expect(text).not.toMatch(/internal error|\n\s+at /);
    for (const b of broken)
      expect(
        err.some((l) => l.includes(`tenants/${b.id}/`)),
        `${b.id} (${b.file.kind}: ${b.file.how})`,
      ).toBe(true);
    expect(err).toContainEqual(expect.stringMatching(/tenants\/fifo\/flows\/pipe\.yaml: is not a regular file$/));
    expect(err.filter((l) => /tenants\/(acme|bigcorp)\//.test(l))).toEqual([]);
  });

  it('the host starts, and the intact tenants are served while no broken one is', async () => {
    const t = await startHost({ bundleDir: bundle.dir, workers: 1, spare: false });
    try {
      expect(replies(await t.say(ACME_SLACK, 'u1', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
      expect(replies(await t.say(BIGCORP_WEBCHAT, 'u1', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
      for (const b of broken) {
        const served = t.host.runtimes.get(b.id)?.flowFor('web', 'webchat');
        expect(served?.ok ?? false, `${b.id}: ${b.file.kind}: ${b.file.how}`).toBe(false);
      }
    } finally {
      await t.close();
    }
  });

  it('serve, as a process, stays up and serves the others', async () => {
    const data = tempDir('greentic-data-');
    const serve = spawn(process.execPath, [CLI, 'serve', '--bundle', bundle.dir, '--data', data.dir, '--port', '0', '--workers', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    serve.stdout.on('data', (d: Buffer) => (output += d.toString()));
    serve.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const check = setInterval(() => output.includes('greentic-host ready') && (clearInterval(check), resolve()), 50);
        serve.once('exit', (code) => (clearInterval(check), reject(new Error(`serve exited ${code}: ${output.slice(-2000)}`))));
      });
      const base = /API (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(output)![1]!;
      const r = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"text":"hi"}',
      });
      expect(await r.json()).toMatchObject({ replies: ["BigCorp Helpdesk here. What's your issue?"] });
      expect(output).not.toMatch(/internal error|Excessive alias|\n\s+at /);
    } finally {
      const exited = new Promise((r) => serve.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
      data.cleanup();
    }
  });
});
