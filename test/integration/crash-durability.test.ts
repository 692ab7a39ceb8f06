import { cpSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../support/bundle.js';
import { busyWebchatBundle } from '../support/busy-webchat.js';
import { FaultyFs } from '../support/fault-fs.js';
import { startHost } from '../support/host.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { CAN_MOUNT, SmallDisk } from '../support/small-disk.js';
import { createHttpServer } from '../../dist/api/server.js';

/**
 * kill -9 while turns are being answered: every turn that got its 200 is there after a restart.
 * Once on a roomy disk, once on a disk that is nearly full (some turns refused, none of the
 * acknowledged lost); the latter on a real small tmpfs where this process may mount one, else
 * through the fake file-system layer with the kill simulated by leaving the files as they are.
 */

const cleanups: Array<() => Promise<void> | void> = [];
const running: ServeProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    await p.exited;
  }
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KEY = { GREENTIC_MASTER_KEY: 'cd'.repeat(32) };
/** bigcorp's webchat with limits for a load from one address. */
const BUNDLE = busyWebchatBundle();
afterAll(() => BUNDLE.cleanup());

async function serve(data: string): Promise<ServeProcess> {
  const p = await startServe(['--bundle', BUNDLE.dir, '--data', data], KEY);
  running.push(p);
  return p;
}

async function chat(base: string, text: string, cookie?: string): Promise<{ status: number; code?: string; cookie?: string }> {
  const res = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify({ text }),
  });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code, cookie: res.headers.get('set-cookie')?.split(';')[0] ?? cookie };
}

async function userLines(base: string, cookie: string): Promise<string[]> {
  const res = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/history`, { headers: { cookie } });
  return ((await res.json()) as { transcript: Array<{ from: string; text: string }> }).transcript.filter((l) => l.from === 'user').map((l) => l.text);
}

/**
 * `sessions` conversations of up to `turns` messages each, all at once; stops when `stop()` says
 * so or a request fails to connect. Returns, per session cookie, the texts whose turn got a 200.
 */
async function load(
  base: string,
  sessions: number,
  turns: number,
  onAck: (acked: number) => void,
  onRefused: (refused: number) => void = () => undefined,
): Promise<{ acked: Map<string, string[]>; refused: Map<string, number>; unanswered: Map<string, string> }> {
  const acked = new Map<string, string[]>();
  const unanswered = new Map<string, string>();
  const refused = new Map<string, number>();
  let count = 0;
  let refusals = 0;
  await Promise.all(
    Array.from({ length: sessions }, async (_, n) => {
      let cookie: string | undefined;
      for (let i = 0; i < turns; i++) {
        const text = `session ${n} message ${i}`;
        let r: Awaited<ReturnType<typeof chat>>;
        try {
          r = await chat(base, text, cookie);
        } catch {
          // The process is gone; this turn may or may not have been saved (it was not acknowledged).
          if (cookie) unanswered.set(cookie, text);
          return;
        }
        cookie = r.cookie;
        if (r.status === 200) {
          acked.set(cookie!, [...(acked.get(cookie!) ?? []), text]);
          onAck(++count);
        } else {
          // A refused turn changes nothing, so it is not in the transcript either.
          refused.set(r.code ?? String(r.status), (refused.get(r.code ?? String(r.status)) ?? 0) + 1);
          onRefused(++refusals);
        }
      }
    }),
  );
  return { acked, refused, unanswered };
}

/** Every acknowledged turn is there, in order; the only other may be the one in flight at the kill. */
async function expectAllThere(base: string, run: { acked: Map<string, string[]>; unanswered: Map<string, string> }): Promise<void> {
  for (const [cookie, texts] of run.acked) {
    const lines = await userLines(base, cookie);
    const maybe = run.unanswered.get(cookie);
    expect(lines).toEqual(lines.length > texts.length && maybe !== undefined ? [...texts, maybe] : texts);
  }
}

describe('kill -9 under load', () => {
  it('on a roomy disk: no acknowledged turn is lost, twice over', async () => {
    const d = tempDir('greentic-crash-');
    cleanups.push(d.cleanup);
    let total = 0;
    for (const killAfter of [60, 150]) {
      const s = await serve(d.dir);
      const run = await load(s.base, 24, 10, (n) => n === killAfter && s.proc.kill('SIGKILL'));
      await s.exited;
      expect(s.proc.signalCode).toBe('SIGKILL');
      const n = [...run.acked.values()].flat().length;
      expect(n).toBeGreaterThanOrEqual(killAfter);
      total += n;
      const after = await serve(d.dir);
      await expectAllThere(after.base, run);
      after.proc.kill('SIGTERM');
      expect(await after.exited).toEqual({ code: 0, signal: null });
    }
    expect(total).toBeGreaterThanOrEqual(210);
    // Four serve starts and two loads: minutes on a busy 2-core machine.
  }, 300_000);

  const NEAR_FULL = CAN_MOUNT ? 'a real tmpfs' : 'the fake file-system layer, the kill simulated by copying the files as they are';
  it(`on a nearly full disk (${NEAR_FULL}): turns are refused, none acknowledged is lost`, async () => {
    if (CAN_MOUNT) await nearlyFullTmpfs();
    else await nearlyFullFake();
  }, 300_000);
});

async function nearlyFullTmpfs(): Promise<void> {
  const disk = new SmallDisk(4096);
  cleanups.push(() => disk.dispose());
  const data = join(disk.dir, 'data');
  mkdirSync(data);
  const s = await serve(data);
  // A few turns' worth of room: the journal fills it, then writes fail; killed while that goes on.
  disk.fill(24 * 1024);
  const run = await load(
    s.base,
    16,
    8,
    () => undefined,
    (n) => n === 20 && s.proc.kill('SIGKILL'),
  );
  await s.exited;
  expect(s.proc.signalCode).toBe('SIGKILL');
  expect([...run.acked.values()].flat().length).toBeGreaterThan(0);
  expect(run.refused.get('storage-unavailable') ?? 0).toBeGreaterThanOrEqual(20);
  disk.free();
  const after = await serve(data);
  await expectAllThere(after.base, run);
}

async function nearlyFullFake(): Promise<void> {
  const d = tempDir('greentic-crash-fake-');
  cleanups.push(d.cleanup);
  const fs = new FaultyFs();
  const t = await startHost({ bundleDir: BUNDLE.dir, dataDir: d.dir, sessionStore: { fs, checkpointMs: 60_000 } });
  const app = await createHttpServer(t.host, { replyTimeoutMs: 20_000 });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  fs.spaceLeft = 6000;
  const run = await load(base, 16, 8, () => undefined);
  expect([...run.acked.values()].flat().length).toBeGreaterThan(0);
  expect(run.refused.get('storage-unavailable') ?? 0).toBeGreaterThan(0);
  // The kill: the files as they are now, in a copy, the journal segments as a dead process leaves them.
  const copy = tempDir('greentic-crash-copy-');
  cleanups.push(copy.cleanup);
  cpSync(d.dir, copy.dir, { recursive: true });
  const journal = join(copy.dir, 'sessions', '.journal');
  for (const f of readdirSync(journal)) renameSync(join(journal, f), join(journal, f.replace(/^\d+-/, '999999999-')));
  await app.close();
  await t.host.close();
  const after = await startHost({ bundleDir: BUNDLE.dir, dataDir: copy.dir });
  const app2 = await createHttpServer(after.host, { replyTimeoutMs: 20_000 });
  const base2 = await app2.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(async () => {
    await app2.close();
    await after.host.close();
  });
  await expectAllThere(base2, run);
}
