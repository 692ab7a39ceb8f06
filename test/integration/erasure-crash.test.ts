import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSessionStore } from '../../dist/stores/file-session-store.js';
import { sessionKey } from '../../dist/stores/keys.js';
import { EXAMPLES, ROOT, tempDir } from '../support/bundle.js';
import { filesContaining } from '../support/data-search.js';

/**
 * kill -9 in the middle of an erasure: what was erased before the kill never comes back at the
 * next start (the journal's tombstones win over the older changes), and the erasure run again
 * finishes the job. The data being erased was itself only in the journal when the erasing
 * process started (its writer was killed too), so replay order across dead processes is tested.
 */

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const dist = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist', p)).href);

/** A child process running `body` against the store at `dir`, which kills itself with SIGKILL where the script says. */
function child(dir: string, body: string): { status: number | null; signal: string | null; stderr: string } {
  const file = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    file,
    `import { FileSessionStore } from ${dist('stores/file-session-store.js')};
import { FileDeadLetterStore } from ${dist('stores/file-dead-letters.js')};
import { FileSecretStore } from ${dist('stores/secret-store.js')};
import { FileTenantWipe } from ${dist('data/file-wipe.js')};
import { TenantData } from ${dist('data/tenant-data.js')};
import { loadWorkspace } from ${dist('tenancy/config/load.js')};
import { sessionKey } from ${dist('stores/keys.js')};
const data = ${JSON.stringify(join(dir, 'data'))};
const kill = () => process.kill(process.pid, 'SIGKILL');
const record = (team, env, session, user, text) => ({ v: 1, tenant: 'acme', env, team, session, channel: team === 'sales' ? 'teams' : 'slack', user, cursor: null,
  state: { said: text }, created_at: Date.now(), updated_at: Date.now(), turns: 1, recent_messages: [], transcript: [{ from: 'user', text, at: Date.now() }] });
${body}
`,
  );
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

const WRITE = `
const store = await FileSessionStore.open(data, { checkpointMs: 3_600_000 });
for (const [team, env, s, user, text] of [
  ['support', 'prod', 'a1', 'alice', 'alice-first-phrase'],
  ['sales', 'prod', 'a2', 'alice', 'alice-second-phrase'],
  ['support', 'staging', 'a3', 'alice', 'alice-third-phrase'],
  ['support', 'prod', 'b1', 'bob', 'bob-phrase'],
]) await store.put(sessionKey({ tenant: 'acme', env, team }, s), record(team, env, s, user, text), 0);
kill();
`;

/** Erase alice, through a store that kills the process at its \`n\`th delete (or at the flush that follows the deletes: n = 0). */
const ERASE = (n: number) => `
const inner = await FileSessionStore.open(data, { checkpointMs: 3_600_000 });
let deletes = 0;
const store = new Proxy(inner, { get(t, p) {
  if (p === 'delete') return (...a) => (++deletes === ${n} ? kill() : t.delete(...a));
  if (p === 'flush' && ${n} === 0) return kill;
  const v = t[p]; return typeof v === 'function' ? v.bind(t) : v;
} });
const ws = await loadWorkspace(${JSON.stringify(EXAMPLES)});
const td = new TenantData({ sessions: store, deadLetters: new FileDeadLetterStore(data), secrets: new FileSecretStore(data, Buffer.alloc(32, 7)), tenants: ws.tenants, wipe: new FileTenantWipe(data) });
const removed = await td.erase('acme', { kind: 'user', user: 'alice' }, 'test');
console.log(JSON.stringify(removed));
await inner.close();
`;

const key = (team: string, env: string, s: string) => sessionKey({ tenant: 'acme', env, team }, s);

async function present(data: string): Promise<string[]> {
  const store = await FileSessionStore.open(data);
  try {
    const found: string[] = [];
    for (const [team, env, s] of [
      ['support', 'prod', 'a1'],
      ['sales', 'prod', 'a2'],
      ['support', 'staging', 'a3'],
      ['support', 'prod', 'b1'],
    ] as const) {
      if (await store.get(key(team, env, s))) found.push(s);
    }
    await store.flush();
    return found;
  } finally {
    await store.close();
  }
}

describe('an erasure cut short by kill -9', () => {
  it('killed after its deletions, before the flush: nothing erased comes back, and no file holds it', async () => {
    const t = tempDir('greentic-erase-crash-');
    cleanups.push(t.cleanup);
    expect(child(t.dir, WRITE).signal).toBe('SIGKILL');
    expect(child(t.dir, ERASE(0)).signal).toBe('SIGKILL');
    expect(await present(join(t.dir, 'data'))).toEqual(['b1']);
    for (const p of ['alice-first-phrase', 'alice-second-phrase', 'alice-third-phrase']) expect(filesContaining(join(t.dir, 'data'), p)).toEqual([]);
    expect(filesContaining(join(t.dir, 'data'), 'bob-phrase')).toEqual(['sessions/acme/prod/support/b1.cbor']);
  });

  it('killed between two deletions: the first stays erased, and running the erasure again finishes it', async () => {
    const t = tempDir('greentic-erase-crash-');
    cleanups.push(t.cleanup);
    expect(child(t.dir, WRITE).signal).toBe('SIGKILL');
    expect(child(t.dir, ERASE(2)).signal).toBe('SIGKILL');
    const left = await present(join(t.dir, 'data'));
    expect(left).toHaveLength(3);
    expect(left).toContain('b1');
    const again = child(t.dir, ERASE(-1));
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(await present(join(t.dir, 'data'))).toEqual(['b1']);
    for (const p of ['alice-first-phrase', 'alice-second-phrase', 'alice-third-phrase']) expect(filesContaining(join(t.dir, 'data'), p)).toEqual([]);
  });
});
