import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../dist/api/server.js';
import { tempDir } from '../support/bundle.js';
import { busyWebchatBundle } from '../support/busy-webchat.js';
import { FaultyFs } from '../support/fault-fs.js';
import { startHost, type TestHost } from '../support/host.js';
import { eventually } from '../support/serve-process.js';
import { CAN_MOUNT, SmallDisk } from '../support/small-disk.js';

/**
 * A host serving over real HTTP while its disk fills up and empties again: on a real small tmpfs
 * where this process may mount one (root, as here and in CI), else through the fake file-system
 * layer. The test names say which. A data directory that turns read-only while serving cannot be
 * made on tmpfs (a remount with files open for writing is refused), so that one always uses the
 * fake layer, as an errors=remount-ro disk would behave.
 */

const METRICS_TOKEN = 'disk-faults-metrics';
const FULL_DISK = CAN_MOUNT ? 'a real 1 MiB tmpfs' : 'the fake file-system layer';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Served {
  readonly t: TestHost;
  readonly base: string;
  readonly app: FastifyInstance;
}

/** bigcorp's webchat with limits for a load from one address. */
const BUNDLE = busyWebchatBundle();
afterAll(() => BUNDLE.cleanup());

async function serveOn(dataDir: string, fs?: FaultyFs): Promise<Served> {
  const t = await startHost({ bundleDir: BUNDLE.dir, dataDir, sessionStore: fs ? { fs } : {} });
  const app = await createHttpServer(t.host, { replyTimeoutMs: 20_000, metricsToken: METRICS_TOKEN });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const close = async () => {
    await app.close();
    await t.host.close();
  };
  cleanups.push(close);
  return { t, base, app };
}

/** One webchat message; the cookie keeps the session. */
async function chat(base: string, text: string, cookie?: string): Promise<{ status: number; body: any; cookie: string | undefined }> {
  const res = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify({ text }),
  });
  return { status: res.status, body: await res.json(), cookie: res.headers.get('set-cookie')?.split(';')[0] ?? cookie };
}

async function transcript(base: string, cookie: string): Promise<string[]> {
  const res = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/history`, { headers: { cookie } });
  return ((await res.json()) as { transcript: Array<{ from: string; text: string }> }).transcript.filter((l) => l.from === 'user').map((l) => l.text);
}

/** A disk that can be filled and emptied: a tmpfs, or the fake layer's space knob. */
function fullableDisk(): { dataDir: string; fs: FaultyFs | undefined; fill(): void; free(): void } {
  if (CAN_MOUNT) {
    const disk = new SmallDisk(1024);
    cleanups.push(() => disk.dispose());
    const dataDir = join(disk.dir, 'data');
    mkdirSync(dataDir);
    return { dataDir, fs: undefined, fill: () => disk.fill(0), free: () => disk.free() };
  }
  const d = tempDir('greentic-fake-disk-');
  cleanups.push(d.cleanup);
  const fs = new FaultyFs();
  return { dataDir: d.dir, fs, fill: () => (fs.spaceLeft = 0), free: () => fs.heal() };
}

describe(`a full disk while serving (${FULL_DISK})`, () => {
  it('turns are refused with a clear retryable error, readiness drops, and it all comes back by itself when space returns', async () => {
    const disk = fullableDisk();
    const { t, base } = await serveOn(disk.dataDir, disk.fs);
    // Every node of the flow once, so that the turns below only differ by the disk: a first call
    // on a busy machine can miss its deadline, and then the same message is tried again.
    const warm = await chat(base, 'hello');
    let warmed = await chat(base, 'vpn', warm.cookie);
    for (let i = 0; warmed.status !== 200 && warmed.body.error.code === 'deadline-exceeded' && i < 5; i++) warmed = await chat(base, 'vpn', warm.cookie);
    expect(warmed.status).toBe(200);
    const first = await chat(base, 'hello');
    expect(first.status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    disk.fill();
    // A full tmpfs still has the slack of the pages its files already hold: turns go on until
    // that is used up (a few), then each is refused.
    const accepted: string[] = [];
    let refused = await chat(base, 'my laptop screen is cracked', first.cookie);
    for (let i = 0; refused.status === 200 && i < 30; i++) {
      accepted.push(i === 0 ? 'my laptop screen is cracked' : `more ${i}`);
      refused = await chat(base, `more ${i + 1}`, first.cookie);
    }
    expect(refused.status).toBe(503);
    // The visitor reads an apology; the operator's reason is in the log.
    expect(refused.body).toEqual({
      error: { code: 'storage-unavailable', message: 'Sorry, something went wrong on our side. Please try again in a moment.', retryable: true },
    });
    expect(t.logs.lines.filter((l) => l.event === 'webchat-turn-failed').map((l) => l.reason)).toContain(
      `session ${first.body.session} could not be saved (no space left on the device); nothing was changed, try again later`,
    );
    expect(t.host.readiness()).toEqual({ ready: false, reason: 'disk-full' });
    const readyz = await fetch(`${base}/readyz`);
    expect({ status: readyz.status, body: await readyz.json() }).toEqual({ status: 503, body: { status: 'not-ready', reason: 'disk-full' } });
    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    expect(metrics).toMatch(/greentic_store_failures_total\{store="session store",op="append",problem="disk-full"\} [1-9]/);
    expect(metrics).toMatch(/greentic_turn_errors_total\{tenant="bigcorp",env="prod",team="helpdesk",code="storage-unavailable"\} 1/);
    expect(t.logs.lines.filter((l) => l.event === 'store-failing')).toMatchObject([{ op: 'append', problem: 'disk-full' }]);

    // No restart, no further message: the host notices the space by itself.
    disk.free();
    await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, 'ready again');
    const again = await chat(base, 'after the space came back', first.cookie);
    expect(again.status).toBe(200);
    expect(await transcript(base, first.cookie!)).toEqual(['hello', ...accepted, 'after the space came back']);
  });

  it('every acknowledged turn is still there after a restart once space returns', async () => {
    const disk = fullableDisk();
    const served = await serveOn(disk.dataDir, disk.fs);
    const acked = new Map<string, string[]>();
    const talk = async (n: number) => {
      let cookie: string | undefined;
      for (let i = 0; i < 6; i++) {
        const text = `u${n} says ${i}`;
        const r = await chat(served.base, text, cookie);
        cookie = r.cookie;
        if (r.status === 200) acked.set(cookie!, [...(acked.get(cookie!) ?? []), text]);
        else expect(r.body.error.code).toBe('storage-unavailable');
        if (n === 0 && i === 2) disk.fill();
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, n) => talk(n)));
    expect([...acked.values()].flat().length).toBeGreaterThan(0);
    disk.free();
    await served.app.close();
    await served.t.host.close();
    const { base } = await serveOn(disk.dataDir, disk.fs);
    for (const [cookie, texts] of acked) expect(await transcript(base, cookie)).toEqual(texts);
  });
});

describe('a data directory that turns read-only while serving (the fake file-system layer: EROFS on every write)', () => {
  it('the process stays up, turns are refused, reads work, and it recovers when the directory is writable again', async () => {
    const d = tempDir('greentic-ro-');
    cleanups.push(d.cleanup);
    const fs = new FaultyFs();
    const { t, base } = await serveOn(d.dir, fs);
    const first = await chat(base, 'hello');
    expect(first.status).toBe(200);
    await t.host.sessions.flush();
    fs.openWriteError = 'EROFS';
    fs.renameError = 'EROFS';
    fs.syncError = 'EROFS';
    fs.truncateError = 'EROFS';
    const refused = await chat(base, 'vpn is down', first.cookie);
    expect(refused).toMatchObject({ status: 503, body: { error: { code: 'storage-unavailable', retryable: true } } });
    expect(refused.body.error.message).toBe('Sorry, something went wrong on our side. Please try again in a moment.');
    expect(t.logs.lines.filter((l) => l.event === 'webchat-turn-failed').map((l) => l.reason)).toContain(
      `session ${first.body.session} could not be saved (the file system is read-only); nothing was changed, try again later`,
    );
    expect(t.host.readiness()).toEqual({ ready: false, reason: 'read-only' });
    // Reads still answer.
    expect(await transcript(base, first.cookie!)).toEqual(['hello']);
    fs.heal();
    await eventually(() => t.host.readiness().ready, 'ready again');
    expect((await chat(base, 'vpn is down', first.cookie)).status).toBe(200);
  });
});
