import { performance } from 'node:perf_hooks';
import { BOUND_FIELDS, type AttackOp, type GuestCall } from './attack-ops.js';
import { ENV, slack, TEAM, type AttackWorld } from './attack-world.js';

/** What the run saw, per door and outcome: the coverage a run reports. */
export class DoorTally {
  readonly counts = new Map<string, number>();
  /** Problems that are not leaks but are never allowed: a forged ctx obeyed, a 500, a stack trace, an authorisation bypass. */
  readonly violations: string[] = [];
  ops = 0;
  /** The slowest operations, for the report: a delay is found by what caused it. */
  readonly slowest: Array<{ ms: number; op: string }> = [];

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  violation(what: string): void {
    if (this.violations.length < 20) this.violations.push(what);
  }
  timed(ms: number, op: string): void {
    if (this.slowest.length >= 5 && ms <= this.slowest[4]!.ms) return;
    this.slowest.push({ ms: Math.round(ms), op: op.slice(0, 300) });
    this.slowest.sort((a, b) => b.ms - a.ms).splice(5);
  }
  /** door -> ops, sorted: e.g. { guest: 120, rest: 130, webchat: 110 }. */
  doors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, n] of [...this.counts].sort()) if (!k.includes(' ')) out[k] = n;
    return out;
  }
}

type Outcome = { fn: string; ok?: unknown; err?: { tag: string; val: string }; thrown?: string };

/** Header values a client can put on the wire: what a generated one holds outside printable ASCII is percent-encoded. */
const wireSafe = (v: string) => v.replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c));
/** The one shape of every refusal: `{"error": {"code", "message", ...}}`. */
function isErrorShape(text: string): boolean {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    return typeof e?.code === 'string' && typeof e.message === 'string';
  } catch {
    return false;
  }
}
const STACK = /\bat [^\n]*\.(?:js|ts):\d+/;

/** Make one operation and check what came back: every text the attacker gets is scanned for other tenants' data. */
export async function runOp(w: AttackWorld, op: AttackOp, tally: DoorTally): Promise<void> {
  tally.ops++;
  tally.add(op.door);
  const start = performance.now();
  try {
    await (op.door === 'guest' ? guest(w, op, tally) : http(w, op, tally));
  } finally {
    tally.timed(performance.now() - start, JSON.stringify(op));
  }
}

async function http(w: AttackWorld, op: Exclude<AttackOp, { door: 'guest' }>, tally: DoorTally): Promise<void> {
  const headers: Record<string, string> = {};
  if (op.door === 'rest') for (const [k, v] of Object.entries(op.headers)) headers[k] = wireSafe(v);
  if (op.door === 'webchat') {
    if (op.cookie !== undefined) headers.cookie = wireSafe(op.cookie);
    if (op.body !== undefined) headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${w.base}${op.path}`, { method: op.method, headers, body: op.body });
  const text = await res.text();
  const where = `${op.door} ${op.method} ${op.path.slice(0, 120)} by ${op.by}`;
  tally.add(`${op.door} ${res.status}`);
  w.watch.check(op.by, text + JSON.stringify([...res.headers]), where);
  // A refusal or a failed turn (a guest's trap is a 502) is the documented JSON error; a 500 would be a host bug.
  if (res.status === 500 || (res.status >= 400 && !isErrorShape(text))) tally.violation(`${where}: ${res.status} ${text.slice(0, 200)}`);
  if (STACK.test(text)) tally.violation(`${where}: a stack trace: ${text.slice(0, 200)}`);
  // An answer about a tenant's data goes only to a caller that named its own tenant.
  if (op.door === 'rest' && res.ok && /^\/api\/v1\/(sessions|flows|usage|messages)/.test(op.path) && op.headers['x-tenant-id'] !== op.by) {
    tally.violation(`${where}: answered ${res.status} for tenant header ${JSON.stringify(op.headers['x-tenant-id'])}`);
  }
}

async function guest(w: AttackWorld, op: Extract<AttackOp, { door: 'guest' }>, tally: DoorTally): Promise<void> {
  const where = `guest ${op.by}/${op.user}`;
  const r = await w.t.say(slack(op.by), op.user, JSON.stringify({ calls: op.calls, next: 'wait' }));
  w.watch.check(op.by, JSON.stringify(r), where);
  if (!r.ok) {
    tally.add(`guest error ${r.code}`);
    return;
  }
  // The node's own reply comes after whatever the guest sent on the channel during the call.
  const outcomes = JSON.parse(r.replies.at(-1)!) as Outcome[];
  const bound: Record<string, unknown> = { tenantId: op.by, envId: ENV, teamId: TEAM, sessionId: r.session, userId: op.user };
  op.calls.forEach((c: GuestCall, i) => {
    const o = outcomes[i]!;
    tally.add(`guest ${c.fn} ${o.err ? o.err.tag : o.thrown !== undefined ? 'thrown' : 'ok'}`);
    const forged = BOUND_FIELDS.filter((f) => c.ctx !== undefined && f in c.ctx && c.ctx[f] !== bound[f]);
    if (forged.length > 0 && o.err?.tag !== 'access-denied' && o.thrown === undefined) {
      tally.violation(`${where}: ${c.fn} with forged ${forged.join(', ')} was not refused: ${JSON.stringify(o).slice(0, 200)}`);
    }
  });
}

/** Run `ops` with `concurrency` in flight at once (the host serves tenants concurrently, so the attack does too). */
export async function runBatch(w: AttackWorld, ops: readonly AttackOp[], tally: DoorTally, concurrency: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < ops.length) await runOp(w, ops[next++]!, tally);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}
