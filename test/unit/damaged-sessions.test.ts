import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encode } from 'cbor-x';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSessionStore } from '../../dist/stores/file-session-store.js';
import { sessionKey } from '../../dist/stores/keys.js';
import type { SessionRecord } from '../../dist/stores/session-store.js';
import { tempDir } from '../support/bundle.js';
import { memoryLogger } from '../support/logs.js';
import { sessionRecord } from '../support/session-record.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 's1');
const good: SessionRecord = sessionRecord({
  cursor: { flow: 'f', node: 'n', waiting: true },
  state: { a: 'b' },
  updated_at: 2,
  turns: 3,
  recent_messages: ['m1'],
  transcript: [{ from: 'user', text: 'hi', at: 1 }],
});
const fileBytes = (record: unknown, rev: unknown = 1) => encode({ rev, record });

/** One way a session file can be damaged: make it at `file`, and the reason the store gives. */
interface Damage {
  readonly name: string;
  make(file: string, dir: string): void;
  reason(file: string): string;
}

const DAMAGES: Damage[] = [
  { name: 'garbage', make: (f) => writeFileSync(f, Buffer.from([0xff, 0x00, 0x12, 0x99])), reason: (f) => `session file ${f} is not valid CBOR` },
  { name: 'truncated', make: (f) => writeFileSync(f, fileBytes(good).subarray(0, 40)), reason: (f) => `session file ${f} is not valid CBOR` },
  { name: 'zero bytes', make: (f) => writeFileSync(f, Buffer.alloc(0)), reason: (f) => `session file ${f} is empty` },
  {
    name: 'a list, not a map',
    make: (f) => writeFileSync(f, encode([1, 2])),
    reason: (f) => `session file ${f} is not a session file (expected a map with rev and record)`,
  },
  { name: 'a bad revision', make: (f) => writeFileSync(f, fileBytes(good, 'x')), reason: (f) => `session file ${f} has an invalid revision` },
  {
    name: 'state of numbers',
    make: (f) => writeFileSync(f, fileBytes({ ...good, state: { a: 1 } })),
    reason: (f) => `session file ${f}: record.state is not a map of strings`,
  },
  {
    name: 'no recent_messages',
    make: (f) => writeFileSync(f, fileBytes({ ...good, recent_messages: undefined })),
    reason: (f) => `session file ${f}: record.recent_messages is not a list of strings`,
  },
  {
    name: 'a bad cursor',
    make: (f) => writeFileSync(f, fileBytes({ ...good, cursor: 'x' })),
    reason: (f) => `session file ${f}: record.cursor is not null or {flow, node, waiting}`,
  },
  {
    name: 'a bad transcript',
    make: (f) => writeFileSync(f, fileBytes({ ...good, transcript: [{ from: 'x' }] })),
    reason: (f) => `session file ${f}: record.transcript is not a list of {from, text, at}`,
  },
  {
    name: 'a user id that is not an id',
    make: (f) => writeFileSync(f, fileBytes({ ...good, user: '../x' })),
    reason: (f) => `session file ${f}: record.user is not an id`,
  },
  {
    name: "another tenant's file",
    make: (f) => writeFileSync(f, fileBytes({ ...good, tenant: 'bigcorp' })),
    reason: (f) => `session file ${f} holds bigcorp/prod/support/s1, not the session at its path`,
  },
  {
    name: 'a directory',
    make: (f) => {
      mkdirSync(f);
      writeFileSync(join(f, 'x'), 'x');
    },
    reason: (f) => `session file ${f} is a directory`,
  },
  {
    name: "a symlink to another tenant's session",
    make: (f, dir) => {
      const other = join(dir, 'sessions', 'bigcorp', 'prod', 'support', 's1.cbor');
      mkdirSync(dirname(other), { recursive: true });
      writeFileSync(other, fileBytes({ ...good, tenant: 'bigcorp' }));
      symlinkSync(other, f);
    },
    reason: (f) => `session file ${f} is a symbolic link`,
  },
  { name: 'a FIFO (reading it must not hang)', make: (f) => execFileSync('mkfifo', [f]), reason: (f) => `session file ${f} is not a regular file` },
  {
    name: 'a file larger than any session',
    make: (f) => {
      writeFileSync(f, '');
      truncateSync(f, 9 * 1024 * 1024);
    },
    reason: (f) => `session file ${f} is 9437184 bytes, over the 8388672-byte limit`,
  },
];

function damagedStore(damage: (file: string, dir: string) => void) {
  const t = tempDir('greentic-damaged-');
  const file = join(t.dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor');
  mkdirSync(dirname(file), { recursive: true });
  damage(file, t.dir);
  const logs = memoryLogger('debug');
  const quarantined: string[] = [];
  const store = new FileSessionStore(t.dir, {
    logger: logs.logger,
    metrics: { storeFailure: () => undefined, sessionQuarantined: (k, r) => quarantined.push(`${k.session}: ${r}`) },
  });
  cleanups.push(t.cleanup, () => store.close());
  const quarantine = join(t.dir, 'sessions', '.quarantine', 'acme', 'prod', 'support');
  return { dir: t.dir, file, store, logs, quarantined, moved: () => (existsSync(quarantine) ? readdirSync(quarantine) : []) };
}

describe('a damaged session file', () => {
  for (const d of DAMAGES) {
    it(`${d.name}: moved aside, counted, logged; the conversation starts anew`, async () => {
      const { file, store, logs, quarantined, moved } = damagedStore(d.make);
      expect(await store.get(key)).toBeNull();
      expect(existsSync(file) || isLink(file)).toBe(false);
      expect(moved()).toEqual([expect.stringMatching(/^s1\.\d+-[0-9a-f]{8}\.cbor$/)]);
      expect(quarantined).toHaveLength(1);
      expect(quarantined[0]).toContain(`s1: ${d.reason(file)}`);
      const line = logs.lines.find((l) => l.event === 'session-quarantined')!;
      expect(line).toMatchObject({
        tenant_id: 'acme',
        env_id: 'prod',
        team_id: 'support',
        session_id: 's1',
        msg: 'damaged session file moved aside; the conversation starts anew',
      });
      expect(String(line.reason)).toContain(d.reason(file));
      // A new conversation is stored where the damaged one was.
      expect(await store.put(key, { ...good, turns: 0 }, 0)).toBe(1);
      await store.flush();
      expect(readFileSync(file).length).toBeGreaterThan(0);
    });

    it(`${d.name}: DELETE removes it`, async () => {
      const { file, store, moved } = damagedStore(d.make);
      expect(await store.delete(key)).toBe(true);
      expect(existsSync(file) || isLink(file)).toBe(false);
      expect(moved()).toHaveLength(1);
      expect(await store.delete(key)).toBe(false);
      expect(await store.list({ tenant: 'acme', env: 'prod', team: 'support' })).toEqual([]);
    });
  }

  it('any bytes at a session path: never an error, never a session that is not one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        const { store, moved } = damagedStore((f) => writeFileSync(f, bytes));
        const got = await store.get(key);
        expect(got).toBeNull();
        expect(moved()).toHaveLength(1);
      }),
      { numRuns: 60 },
    );
  });

  it('a good file next to damaged ones is read as it is', async () => {
    const { dir, store } = damagedStore((f) => writeFileSync(f, fileBytes(good, 4)));
    expect(await store.get(key)).toEqual({ revision: 4, record: good });
    expect(existsSync(join(dir, 'sessions', '.quarantine'))).toBe(false);
  });
});

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
