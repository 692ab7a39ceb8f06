import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { MAX_DENIAL_LOGS_PER_CALL, MAX_LOGGED_FIELD } from '../../dist/capabilities/scope.js';
import { DEFAULT_LIMITS } from '../../dist/tenancy/model.js';
import { copyExamples, installTenantComponent, writeFiles } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';

// acme/support/slack runs the flooder (test/fixtures/flooder): a guest that makes the host work
// by count, with items that cost almost no bytes, while bigcorp holds a conversation.
const bundle = copyExamples();
let t: TestHost;
const L = DEFAULT_LIMITS;

beforeAll(async () => {
  installTenantComponent(bundle.dir, 'acme', 'flooder');
  writeFiles(bundle.dir, {
    'tenants/acme/tenant.yaml': {
      tenant: 'acme',
      environments: { prod: {}, staging: {} },
      settings: { limits: { deadline_ms: 5000 } },
      grants: { components: { reply: null, ask: null, branch: null, flooder: null } },
    },
    'tenants/acme/flows/acme_support_flow.yaml': { name: 'acme_support_flow', version: '1', start: 'f', nodes: [{ id: 'f', type: 'flooder' }] },
  });
  t = await startHost({ bundleDir: bundle.dir, workers: 2 });
  expect(t.host.problems).toEqual([]);
});
afterAll(async () => {
  await t?.close();
  bundle.cleanup();
});

/** Log lines of one session's turns, and their bytes as written. */
function sessionLog(session: string): { lines: Array<Record<string, unknown>>; bytes: number } {
  const lines = t.logs.lines.filter((l) => l.session_id === session);
  return { lines, bytes: lines.reduce((n, l) => n + JSON.stringify(l).length + 1, 0) };
}

/** The most log lines one message of a one-node flow may cause: the guest's, the denials logged in full, one line saying more were not, one saying the guest's log was cut, the turn's own line. */
const MAX_LINES = L.maxLogLines + MAX_DENIAL_LOGS_PER_CALL + 3;
/** ... and bytes: the guest's text (max_log_bytes) and at most 1 KiB of fields per line. */
const MAX_BYTES = L.maxLogBytes + MAX_LINES * 1024;

/** Send one hostile message as `user` while bigcorp chats; returns acme's answer. */
async function flood(user: string, text: string) {
  const hostile = t.say(ACME_SLACK, user, text);
  const bystander = (async () => {
    expect(replies(await t.say(BIGCORP_WEBCHAT, `${user}-b`, 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    expect(replies(await t.say(BIGCORP_WEBCHAT, `${user}-b`, 'my vpn is down'))).toHaveLength(1);
  })();
  const [answer] = await Promise.all([hostile, bystander]);
  return answer;
}

describe('a guest cannot make the host work in proportion to a count it controls', () => {
  it('300,000 empty replies: the call fails by count, whatever their bytes', async () => {
    // So many list elements are refused while they are lifted, before any reply is counted.
    const r = await flood('r1', 'r300000');
    expect(r).toMatchObject({
      ok: false,
      code: 'limit-exceeded',
      message: `component "flooder" handed the host lists of more than ${L.maxValueItems} elements in one call (settings.limits.max_value_items)`,
    });
    // Fewer than that, but more than max_messages: refused by the reply count.
    const few = await flood('r2', 'r5000');
    expect(few).toMatchObject({ ok: false, code: 'limit-exceeded', message: `component "flooder" at node "f" produced more than ${L.maxMessages} messages` });
    expect(replies(await t.say(ACME_SLACK, 'r1', 'r3'))).toEqual(['', '', '']);
  });

  it('5,000 sends: at most max_messages go out', async () => {
    expect(replies(await flood('s1', 's5000'))).toHaveLength(L.maxMessages);
  });

  it('300,000 sends: a guest that goes on after it was refused many times has its call ended', async () => {
    const r = await flood('s2', 's300000');
    expect(r).toMatchObject({
      ok: false,
      code: 'limit-exceeded',
      message: `component "flooder" went on calling capabilities after its limit of ${L.maxCapabilityCalls} calls in one component call`,
    });
  });

  it('300,000 log lines: at most max_log_lines reach the log, and one line says the rest was cut', async () => {
    await flood('l1', 'l300000');
    const { lines, bytes } = sessionLog(defaultSessionId('slack', 'l1'));
    expect(lines.filter((l) => l.event === 'guest-log')).toHaveLength(L.maxLogLines);
    expect(lines.length).toBeLessThanOrEqual(MAX_LINES);
    expect(bytes).toBeLessThanOrEqual(MAX_BYTES);
  });

  it('5,000 state keys: the session keeps max_state_keys', async () => {
    expect(replies(await flood('k1', 'k5000'))).toEqual(['done']);
    const key = { tenant: 'acme', env: 'prod', team: 'support', session: defaultSessionId('slack', 'k1') };
    const stored = await t.host.sessions.get(key);
    expect(Object.keys(stored!.record.state)).toHaveLength(L.maxStateKeys);
  });

  it('denied calls with a 64 KiB forged tenant id: a bounded number of short log lines', async () => {
    // 200 calls of 64 KiB each stay under max_value_bytes (16 MiB), which would end the call first.
    await flood('d1', 'd200');
    const { lines, bytes } = sessionLog(defaultSessionId('slack', 'd1'));
    const denials = lines.filter((l) => l.event === 'access-denied');
    expect(denials).toHaveLength(MAX_DENIAL_LOGS_PER_CALL);
    expect(lines.filter((l) => l.event === 'access-denied-suppressed')).toHaveLength(1);
    for (const d of denials) expect(String(d.requested_scope).length).toBeLessThanOrEqual(3 * (MAX_LOGGED_FIELD + 3) + 2);
    // Escaped zero bytes take 6 characters each in JSON: still a bounded line.
    expect(bytes).toBeLessThanOrEqual((MAX_DENIAL_LOGS_PER_CALL + 3) * 2048);
    // Every denial is still counted.
    expect(t.host.metrics.denialCount).toBeGreaterThanOrEqual(200);
  });

  it('property: any mode and count stays within the per-call and per-turn bounds, and bigcorp is served meanwhile', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('r', 's', 'l', 'k', 'd'),
        fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300_000 })),
        async (mode, count) => {
          const user = `p${n++}`;
          const r = await flood(user, `${mode}${count}`);
          const session = defaultSessionId('slack', user);
          const { lines, bytes } = sessionLog(session);
          expect(lines.length).toBeLessThanOrEqual(MAX_LINES);
          expect(bytes).toBeLessThanOrEqual(MAX_BYTES);
          if (r.ok) expect(r.replies.length).toBeLessThanOrEqual(L.maxTurnMessages);
          // A call that floods fails, by count, or at its deadline when the work was its own.
          else expect(['limit-exceeded', 'deadline-exceeded']).toContain(r.code);
          const stored = await t.host.sessions.get({ tenant: 'acme', env: 'prod', team: 'support', session });
          expect(Object.keys(stored?.record.state ?? {}).length).toBeLessThanOrEqual(L.maxStateKeys);
        },
      ),
      { numRuns: 20 },
    );
  });
});
