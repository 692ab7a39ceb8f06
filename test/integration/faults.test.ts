import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { copyExamples, installTenantComponent, writeFiles } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';

// acme/support/slack runs the WAT `faults` guest; acme/sales/teams runs its JS twin.
const ACME_SALES = { tenant: 'acme', env: 'prod', team: 'sales', channel: 'teams' };
const bundle = copyExamples();
let t: TestHost;

beforeAll(async () => {
  installTenantComponent(bundle.dir, 'acme', 'faults');
  installTenantComponent(bundle.dir, 'acme', 'faults-js');
  writeFiles(bundle.dir, {
    'tenants/acme/tenant.yaml': {
      tenant: 'acme',
      environments: { prod: {}, staging: {} },
      // Room for faults-js's 3 s deadline (the default cap is 1 s).
      settings: { limits: { deadline_ms: 3000 } },
      grants: { components: { reply: null, ask: null, branch: null, faults: null, 'faults-js': null } },
    },
    'tenants/acme/flows/acme_support_flow.yaml': { name: 'acme_support_flow', version: '1', start: 'f', nodes: [{ id: 'f', type: 'faults' }] },
    'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'f', nodes: [{ id: 'f', type: 'faults-js' }] },
  });
  t = await startHost({ bundleDir: bundle.dir, workers: 2 });
  expect(t.host.problems).toEqual([]);
});
afterAll(async () => {
  await t?.close();
  bundle.cleanup();
});

describe('a misbehaving guest fails its call with a clear error, and the host keeps serving', () => {
  const wat: Array<[string, string, RegExp, boolean]> = [
    ['loop', 'l', /^component "faults" did not finish within 500 ms$/, true],
    ['memory bomb', 'b', /^component "faults" ran out of memory \(limit 16 MiB\)/, false],
    ['trap', 't', /^component "faults" trapped: .*unreachable/, false],
    ['deep recursion', 'r', /^component "faults" trapped: .*call stack.*\(unbounded recursion\)$/, false],
    ['huge output', 'h', /^component "faults" at node "f" produced more than 1048576 bytes of output$/, false],
  ];
  it.each(wat)('WAT %s', async (_name, input, message, retryable) => {
    const before = await t.say(ACME_SLACK, 'w1', 'ok?');
    expect(replies(before)).toEqual(['ok']);
    const r = await t.say(ACME_SLACK, 'w1', input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(message);
    expect(r.retryable).toBe(retryable);
    // The next call works (a fresh instance if the old one trapped), and so does every other tenant.
    expect(replies(await t.say(ACME_SLACK, 'w1', 'ok?'))).toEqual(['ok']);
    expect(replies(await t.say(BIGCORP_WEBCHAT, `after-${input}`, 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
  });

  it('WAT: thousands of capability calls are cut off at the limit', async () => {
    expect(replies(await t.say(ACME_SLACK, 'w2', 'c'))).toEqual(['calls: limited']);
  });

  const js: Array<[string, string, RegExp]> = [
    ['loop', 'deadline-exceeded', /^component "faults-js" did not finish within 3000 ms$/],
    ['bomb', 'out-of-memory', /^component "faults-js" ran out of memory \(limit 64 MiB\)/],
    ['throw', 'trap', /^component "faults-js" trapped: .*unreachable.*uncaught exception/],
    ['recurse', 'trap', /^component "faults-js" trapped: /],
    ['huge', 'limit-exceeded', /produced more than 1048576 bytes of output$/],
    ['fail', 'bad-input', /^cannot handle this input$/],
  ];
  it.each(js)('JS %s', async (input, code, message) => {
    const r = await t.say(ACME_SALES, 'j1', input);
    expect(r).toMatchObject({ ok: false, code });
    if (!r.ok) expect(r.message).toMatch(message);
    expect(replies(await t.say(ACME_SALES, 'j1', 'hello'))).toEqual(['ok']);
  });

  it('JS: capability calls past the limit are refused with limit-exceeded', async () => {
    expect(replies(await t.say(ACME_SALES, 'j2', 'calls'))).toEqual(['calls limited: 1000']);
  });

  it('a failed call leaves the session as it was before the call', async () => {
    await t.say(ACME_SLACK, 'w3', 'ok?');
    const file = join(t.dataDir, 'sessions', 'acme', 'prod', 'support', `${defaultSessionId('slack', 'w3')}.cbor`);
    await t.host.sessions.flush();
    const before = readFileSync(file);
    for (const input of ['l', 'b', 't']) expect((await t.say(ACME_SLACK, 'w3', input)).ok).toBe(false);
    await t.host.sessions.flush();
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("one tenant's looping guest does not stop another tenant's conversations", async () => {
    const looping = Promise.all(Array.from({ length: 4 }, () => t.say(ACME_SLACK, 'noisy', 'l')));
    const latencies: number[] = [];
    const users = ['q1', 'q2', 'q3'];
    const conversations = users.map(async (u) => {
      const turns: Array<[string, string]> = [
        ['hi', "BigCorp Helpdesk here. What's your issue?"],
        ['my keyboard is broken', 'Which asset tag is on the device?'],
        [`tag-${u}`, `Hardware ticket opened for asset tag-${u}. Bring it to the IT desk on floor 2.`],
      ];
      for (const [text, expected] of turns) {
        const t0 = performance.now();
        expect(replies(await t.say(BIGCORP_WEBCHAT, u, text))).toEqual([expected]);
        latencies.push(performance.now() - t0);
      }
    });
    await Promise.all(conversations);
    const loops = await looping;
    expect(loops.every((r) => !r.ok && r.code === 'deadline-exceeded')).toBe(true);
    latencies.sort((a, b) => a - b);
    console.log(
      `bigcorp turn latency while acme loops: p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (${latencies.length} turns)`,
    );
  });
});

describe('components that cannot be served are refused at load, by name', () => {
  async function problemsWith(setup: (dir: string) => void, grants: object): Promise<string[]> {
    const b = copyExamples();
    try {
      setup(b.dir);
      writeFiles(b.dir, {
        'tenants/acme/tenant.yaml': {
          tenant: 'acme',
          environments: { prod: {}, staging: {} },
          grants: { components: { reply: null, ask: null, branch: null, ...grants } },
        },
        'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'x', nodes: [{ id: 'x', type: 'guest' }] },
      });
      const h = await startHost({ bundleDir: b.dir, workers: 1 });
      const found = h.host.problems.map(formatProblem);
      const answer = await h.say(ACME_SALES, 'u1', 'hi');
      await h.close();
      return [...found, answer.ok ? `answered: ${answer.replies.join('|')}` : `refused: ${answer.code}`];
    } finally {
      b.cleanup();
    }
  }

  it('a WASI import the tenant does not grant', async () => {
    const out = await problemsWith((dir) => installTenantComponent(dir, 'acme', 'wasi-env', 'guest'), { guest: null });
    expect(out).toContainEqual(
      expect.stringMatching(/needs WASI interface "wasi:cli\/environment" \(grants\.components\.guest\.wasi\), which tenant "acme" does not grant$/),
    );
    expect(out.at(-1)).toBe('refused: flow-unavailable');
  });

  it('a manifest that lies about its imports', async () => {
    const out = await problemsWith(
      (dir) => {
        installTenantComponent(dir, 'acme', 'wasi-env', 'guest');
        const m = join(dir, 'tenants/acme/components/guest/manifest.yaml');
        writeFileSync(m, readFileSync(m, 'utf8').replace('wasi: ["wasi:cli/environment"]', 'wasi: []'));
      },
      { guest: null },
    );
    expect(out).toContainEqual(
      expect.stringMatching(
        /guest\/manifest\.yaml: component "guest" imports wasi:cli\/environment, which its manifest does not request \(capabilities\.wasi\)$/,
      ),
    );
    expect(out.at(-1)).toBe('refused: flow-unavailable');
  });

  it('a granted WASI import is served by a sandbox with an empty environment', async () => {
    const out = await problemsWith((dir) => installTenantComponent(dir, 'acme', 'wasi-env', 'guest'), { guest: { wasi: ['wasi:cli/environment'] } });
    expect(out).toEqual(['answered: environment: empty']);
  });

  const bad: Array<[string, Buffer, RegExp]> = [
    ['malformed wasm', Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]), /guest\.wasm: not a valid component: /],
    [
      'a core module, not a component',
      Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
      /guest\.wasm: this is a core WebAssembly module, not a component/,
    ],
    ['not wasm at all', Buffer.from('#!/bin/sh\necho pwned\n'), /guest\.wasm: not a WebAssembly file \(bad magic number\)/],
  ];
  it.each(bad)('%s', async (_name, bytes, expected) => {
    const out = await problemsWith(
      (dir) => {
        const sha = createHash('sha256').update(bytes).digest('hex');
        writeFiles(dir, {
          'tenants/acme/components/guest/manifest.yaml': `name: guest\nversion: 1.0.0\nwasm: guest.wasm\nsha256: "${sha}"\n`,
        });
        writeFileSync(join(dir, 'tenants/acme/components/guest/guest.wasm'), bytes);
      },
      { guest: null },
    );
    expect(out).toContainEqual(expect.stringMatching(expected));
    expect(out.at(-1)).toBe('refused: flow-unavailable');
  });
});
