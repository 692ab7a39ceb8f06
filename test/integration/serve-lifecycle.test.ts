import { chmodSync, readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyExamples, EXAMPLES, installTenantComponent, replaceExactly, tempDir, writeFiles } from '../support/bundle.js';
import { CAN_MOUNT, SmallDisk } from '../support/small-disk.js';
import { eventually, spawnServe, startServe, type ServeProcess } from '../support/serve-process.js';

/**
 * `serve` as real processes: a graceful stop with a keep-alive connection holding a request in
 * flight, the data directory's lock between two processes, what a kill -9 leaves behind, and a
 * data directory that cannot be written at start.
 */

const METRICS_TOKEN = 'lifecycle-metrics';
const running: Array<Omit<ServeProcess, 'base'>> = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    await p.exited;
  }
  cleanups.splice(0).forEach((c) => c());
});

/** bigcorp's webchat runs the `faults` guest: "l" loops until its deadline (`deadlineMs`). */
function slowBundle(deadlineMs: number): string {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  installTenantComponent(b.dir, 'bigcorp', 'faults');
  const manifest = join(b.dir, 'tenants', 'bigcorp', 'components', 'faults', 'manifest.yaml');
  writeFileSync(manifest, replaceExactly(readFileSync(manifest, 'utf8'), 'deadline_ms: 500', `deadline_ms: ${deadlineMs}`));
  const bundleYaml = join(b.dir, 'bundle.yaml');
  writeFileSync(
    bundleYaml,
    replaceExactly(
      readFileSync(bundleYaml, 'utf8'),
      '      limits:\n        deadline_ms: 1000\n',
      '      limits:\n        deadline_ms: 20000\n    grants:\n      components:\n        reply: {}\n        ask: {}\n        branch: {}\n        faults: {}\n',
    ),
  );
  writeFiles(b.dir, {
    'tenants/bigcorp/flows/bigcorp_helpdesk_flow.yaml': { name: 'bigcorp_helpdesk_flow', version: '1', start: 'f', nodes: [{ id: 'f', type: 'faults' }] },
  });
  return b.dir;
}

function dataDir(): string {
  const d = tempDir('greentic-serve-data-');
  cleanups.push(d.cleanup);
  return d.dir;
}

async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const p = await startServe(args, { GREENTIC_MASTER_KEY: 'ab'.repeat(32), GREENTIC_METRICS_TOKEN: METRICS_TOKEN, ...env });
  running.push(p);
  return p;
}

/** POST a webchat message on a keep-alive agent; resolves with status, headers and body. */
function chat(base: string, agent: Agent, text: string): Promise<{ status: number; connection: string | undefined; cookie?: string; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        const cookie = res.headers['set-cookie']?.[0]?.split(';')[0];
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, ...(cookie ? { cookie } : {}), body: JSON.parse(data) }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ text }));
  });
}

/** Wait until bigcorp's webchat has taken `n` messages: the request is in the host, not on the wire (a connection closed as idle then would be a reset, not a drain). */
async function turnStarted(base: string, n: number): Promise<void> {
  await eventually(async () => {
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    return new RegExp(`greentic_messages_in_total\\{[^}]*tenant="bigcorp"[^}]*\\} ${n}$`, 'm').test(text);
  }, `message ${n} to reach the host`);
}

describe('graceful stop', () => {
  it('SIGTERM with a keep-alive connection holding a request in flight: the request is answered, the connection closed, the process exits', async () => {
    const s = await serve(['--bundle', slowBundle(2500), '--data', dataDir()]);
    // An idle kept-alive connection, and another with a turn in flight.
    const idle = new Agent({ keepAlive: true });
    const busy = new Agent({ keepAlive: true });
    expect((await chat(s.base, idle, 'ok?')).status).toBe(200);
    const idleSockets = Object.values(idle.freeSockets).flat();
    expect(idleSockets).toHaveLength(1);
    const idleClosed = new Promise<void>((r) => idleSockets[0]!.once('close', () => r()));
    const inFlight = chat(s.base, busy, 'l');
    await turnStarted(s.base, 2);
    s.proc.kill('SIGTERM');
    await idleClosed;
    const answer = await inFlight;
    // It ran to its end (its guest's deadline), well within the 10 s drain.
    expect(answer).toEqual({
      status: 503,
      connection: 'close',
      cookie: expect.stringMatching(/^greentic_webchat=/),
      body: { error: { code: 'deadline-exceeded', message: 'Sorry, something went wrong on our side. Please try again in a moment.', retryable: true } },
    });
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.stdout()).toContain('greentic-host: stopping (in-flight turns get up to 10000 ms)\ngreentic-host: stopped\n');
    idle.destroy();
    busy.destroy();
  });

  it('past --drain-timeout the turn still running fails (retryable, session unchanged) and the process exits', async () => {
    const bundle = slowBundle(15000);
    const data = dataDir();
    const s = await serve(['--bundle', bundle, '--data', data, '--drain-timeout', '1000']);
    const agent = new Agent({ keepAlive: true });
    const inFlight = chat(s.base, agent, 'l');
    await turnStarted(s.base, 1);
    s.proc.kill('SIGTERM');
    const answer = await inFlight;
    expect(answer).toEqual({
      status: 503,
      connection: 'close',
      cookie: expect.stringMatching(/^greentic_webchat=/),
      body: { error: { code: 'unavailable', message: 'Sorry, something went wrong on our side. Please try again in a moment.', retryable: true } },
    });
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.logs().filter((l) => l.event === 'drain-timeout')[0]).toMatchObject({ drain_ms: 1000, requests_in_flight: 1 });
    agent.destroy();
    // The failed turn left nothing: the session is as it was (not there at all).
    const again = await serve(['--bundle', bundle, '--data', data]);
    const history = await fetch(`${again.base}/webchat/bigcorp/prod/helpdesk/webchat/history`, { headers: { cookie: answer.cookie! } });
    expect((await history.json()).transcript).toEqual([]);
  });
});

describe('one instance per data directory', () => {
  it('a second serve on the same data dir is refused with the holder; a lock whose process was killed is taken over', async () => {
    const data = dataDir();
    const first = await serve(['--bundle', EXAMPLES, '--data', data]);
    const second = spawnServe(['--bundle', EXAMPLES, '--data', data], { GREENTIC_MASTER_KEY: 'ab'.repeat(32) });
    running.push(second);
    expect(await second.exited).toEqual({ code: 1, signal: null });
    const lock = JSON.parse(readFileSync(join(data, 'greentic.lock', '000000001'), 'utf8')) as { pid: number; since: string };
    expect(lock.pid).toBe(first.pid);
    expect(second.stderr()).toContain(
      `greentic-host serve: data directory ${data} is in use by another greentic-host (pid ${first.pid}, since ${lock.since}); stop it first, or use another --data\n`,
    );
    first.proc.kill('SIGKILL');
    await first.exited;
    const third = await serve(['--bundle', EXAMPLES, '--data', data]);
    expect(third.logs().find((l) => l.event === 'lock-taken-over')).toMatchObject({
      pid: first.pid,
      msg: 'took over the data directory lock of a process that is gone',
    });
    expect(readdirSync(join(data, 'greentic.lock'))).toEqual(['000000002']);
    expect(JSON.parse(readFileSync(join(data, 'greentic.lock', '000000002'), 'utf8')).pid).toBe(third.pid);
    third.proc.kill('SIGTERM');
    expect(await third.exited).toEqual({ code: 0, signal: null });
    expect(readdirSync(join(data, 'greentic.lock'))).toEqual([]);
  });

  it('temp files a killed writer left (sessions, secrets, key) are removed at the next start; those of a live process are not', async () => {
    const data = dataDir();
    const dead = 999_999_999;
    const leftovers = [
      join(data, 'sessions', 'acme', 'prod', 'support', `s1.cbor.tmp-${dead}-0123456789ab`),
      join(data, 'secrets', 'acme', `k.secret.tmp-${dead}-0123456789ab`),
      join(data, `master.key.tmp-${dead}-0123456789ab`),
    ];
    const live = join(data, 'sessions', 'acme', 'prod', 'support', `s2.cbor.tmp-${process.pid}-0123456789ab`);
    for (const f of [...leftovers, live]) {
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, 'half a write');
    }
    const s = await serve(['--bundle', EXAMPLES, '--data', data]);
    await eventually(() => leftovers.every((f) => !existsSync(f)), 'the leftovers to be removed');
    expect(existsSync(live)).toBe(true);
    expect(readdirSync(join(data, 'sessions', 'acme', 'prod', 'support'))).toEqual([`s2.cbor.tmp-${process.pid}-0123456789ab`]);
    s.proc.kill('SIGTERM');
    await s.exited;
  });
});

/**
 * How this machine can make a data directory unwritable: a read-only tmpfs (root, as here and in
 * CI), a directory without write permission (not root), or, for root without mount rights, a
 * regular file where the directory should be.
 */
const UNWRITABLE = CAN_MOUNT ? 'a read-only tmpfs' : process.getuid?.() !== 0 ? 'a directory without write permission' : 'a file in its place';

describe(`a data directory that cannot be written (${UNWRITABLE})`, () => {
  it('at start: one line naming the directory and the problem, exit 1', async () => {
    let data: string;
    let expected: string;
    let undo = () => {};
    if (CAN_MOUNT) {
      const disk = new SmallDisk(1024);
      data = join(disk.dir, 'data');
      mkdirSync(join(data, 'sessions'), { recursive: true });
      disk.readOnly();
      undo = () => disk.dispose();
      expected = `data directory ${data} cannot be written: the file system is read-only (EROFS); remount it read-write, or choose another with --data`;
    } else if (process.getuid?.() !== 0) {
      data = dataDir();
      chmodSync(data, 0o500);
      undo = () => chmodSync(data, 0o700);
      expected = `data directory ${data} cannot be written: permission denied (EACCES); give this user (uid ${process.getuid!()}) write access, or choose another with --data`;
    } else {
      data = join(dataDir(), 'data');
      writeFileSync(data, 'not a directory');
      expected = `data directory ${data} is not a directory; choose another with --data`;
    }
    try {
      const s = spawnServe(['--bundle', EXAMPLES, '--data', data], { GREENTIC_MASTER_KEY: 'ab'.repeat(32) });
      running.push(s);
      expect(await s.exited).toEqual({ code: 1, signal: null });
      expect(s.stderr()).toBe(`greentic-host serve: ${expected}\n`);
    } finally {
      undo();
    }
  });
});
