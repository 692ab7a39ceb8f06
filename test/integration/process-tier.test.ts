import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyExamples, installTenantComponent, replaceExactly, tempDir, writeFiles } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost } from '../support/host.js';
import { eventually, startServe, type ServeProcess } from '../support/serve-process.js';

/**
 * `settings.isolation: process` through the host and through `serve`: bigcorp's webchat runs
 * the `faults` guest in sandbox processes ("l" loops until its deadline, anything else replies
 * "ok"), acme stays in the host's worker threads. Killing bigcorp's sandbox processes with
 * kill -9 fails only the bigcorp turn in flight; the host keeps serving both tenants.
 */

const METRICS_TOKEN = 'process-tier-metrics';
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function processTierBundle(): string {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  installTenantComponent(b.dir, 'bigcorp', 'faults');
  const manifest = join(b.dir, 'tenants', 'bigcorp', 'components', 'faults', 'manifest.yaml');
  writeFileSync(manifest, replaceExactly(readFileSync(manifest, 'utf8'), 'deadline_ms: 500', 'deadline_ms: 60000'));
  const bundleYaml = join(b.dir, 'bundle.yaml');
  writeFileSync(
    bundleYaml,
    replaceExactly(
      readFileSync(bundleYaml, 'utf8'),
      '      limits:\n        deadline_ms: 1000\n',
      '      isolation: process\n      limits:\n        deadline_ms: 60000\n    grants:\n      components:\n        reply: {}\n        ask: {}\n        branch: {}\n        faults: {}\n',
    ),
  );
  writeFiles(b.dir, {
    'tenants/bigcorp/flows/bigcorp_helpdesk_flow.yaml': { name: 'bigcorp_helpdesk_flow', version: '1', start: 'f', nodes: [{ id: 'f', type: 'faults' }] },
  });
  return b.dir;
}

/** The sandbox processes `pid` started: its children running process-child.js. */
function sandboxChildren(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('process-child.js')) out.push(Number(name));
    } catch {
      // A process that ended while we looked.
    }
  }
  return out;
}

describe('a process-tier tenant in a running host', () => {
  it('kill -9 of its sandbox processes fails only its turn in flight; both tenants go on being served, and the crash is counted', async () => {
    const t = await startHost({ bundleDir: processTierBundle() });
    cleanups.push(() => t.close());
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u1', 'x'))).toEqual(['ok']);
    const pids = t.host.pool.sandboxPids('bigcorp');
    expect(pids).toHaveLength(2);
    expect(sandboxChildren(process.pid).sort()).toEqual([...pids].sort());
    const inFlight = t.say(BIGCORP_WEBCHAT, 'u2', 'l');
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    expect(await inFlight).toMatchObject({
      ok: false,
      code: 'worker-crashed',
      message: 'the sandbox process running this call died (signal SIGKILL)',
      retryable: true,
    });
    expect(replies(await t.say(ACME_SLACK, 'u3', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
    // Both deaths seen (a turn handed to the killed spare before its exit is noticed would fail as well).
    await eventually(() => t.host.pool.sandboxPids('bigcorp').every((p) => !pids.includes(p)), 'the death of both killed processes');
    expect(await t.host.metrics.registry.getSingleMetricAsString('greentic_worker_crashes_total')).toMatch(
      /greentic_worker_crashes_total\{tenant="bigcorp",tier="process"\} 2$/m,
    );
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u1', 'x'))).toEqual(['ok']);
  });
});

describe('serve with a process-tier tenant', () => {
  it('survives kill -9 of its sandbox processes: the turn in flight fails with a clear error, the next is served', async () => {
    const data = tempDir('greentic-serve-data-');
    cleanups.push(data.cleanup);
    const s: ServeProcess = await startServe(['--bundle', processTierBundle(), '--data', data.dir], {
      GREENTIC_MASTER_KEY: 'ab'.repeat(32),
      GREENTIC_METRICS_TOKEN: METRICS_TOKEN,
    });
    cleanups.push(async () => {
      if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
      await s.exited;
    });
    const chat = async (text: string, cookie?: string) => {
      const res = await fetch(`${s.base}/webchat/bigcorp/prod/helpdesk/webchat/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
        body: JSON.stringify({ text }),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    expect(await chat('x')).toMatchObject({ status: 200, body: { replies: ['ok'] } });
    await eventually(() => sandboxChildren(s.pid).length === 2, 'the two sandbox processes of bigcorp');
    const children = sandboxChildren(s.pid);
    const inFlight = chat('l');
    await new Promise((r) => setTimeout(r, 500));
    for (const pid of children) process.kill(pid, 'SIGKILL');
    // The visitor gets the apology (operator text stays in the log); the code says what happened.
    expect(await inFlight).toEqual({
      status: 503,
      body: { error: { code: 'worker-crashed', message: 'Sorry, something went wrong on our side. Please try again in a moment.', retryable: true } },
    });
    expect(
      s
        .logs()
        .filter((l) => l.event === 'webchat-turn-failed')
        .map((l) => [l.code, l.reason]),
    ).toContainEqual(['worker-crashed', 'the sandbox process running this call died (signal SIGKILL)']);
    // Both deaths seen (a turn handed to the killed spare before its exit is noticed would fail as well).
    const crashes = async () =>
      (await (await fetch(`${s.base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text()).match(
        /greentic_worker_crashes_total\{tenant="bigcorp",tier="process"\} (\d+)$/m,
      )?.[1];
    await eventually(async () => (await crashes()) === '2', 'both deaths counted');
    expect(await chat('x')).toMatchObject({ status: 200, body: { replies: ['ok'] } });
    expect(s.proc.exitCode).toBeNull();
    expect(sandboxChildren(s.pid).some((p) => children.includes(p))).toBe(false);
    expect(
      s
        .logs()
        .filter((l) => l.event === 'sandbox-process-exit')
        .map((l) => l.how),
    ).toEqual(['signal SIGKILL', 'signal SIGKILL']);
    // A graceful stop takes its sandbox processes with it.
    const live = sandboxChildren(s.pid);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    for (const pid of live) await eventually(() => !readdirSync('/proc').includes(String(pid)), `sandbox process ${pid} to end`);
  }, 180_000);
});
