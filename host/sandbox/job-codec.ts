/**
 * How jobs and results are written into a worker's shared memory. The common cases (a turn:
 * its plan number, the message and the state snapshot; a result with replies, state and step
 * times, no logs) are compact binary records; a plan travels once per worker as CBOR and jobs
 * name it by number. Everything else (describe and raw calls, failures, results with logs or
 * denials) is CBOR. A turn costs about a microsecond to encode this way.
 */
import { decode, encode } from 'cbor-x';
import type { CallJob, JobResult, StepRecord, TurnJob, TurnPlan } from './protocol.js';
import { Reader, Writer } from './wire.js';

const BINARY = 1;
const CBOR = 2;

/** Write a job at `at`; returns its length, or -1 if it does not fit in `limit` bytes. */
export function writeJob(buf: Buffer, at: number, limit: number, job: TurnJob | CallJob): number {
  const w = new Writer(buf, at, at + limit);
  try {
    if ('planId' in job) {
      w.u8(BINARY);
      w.u32(job.planId);
      if (job.plan) w.bytes(encode(job.plan));
      else w.u32(0);
      w.str(job.sessionId);
      w.str(job.userId);
      w.str(job.traceId);
      w.str(job.text);
      w.u32(job.start);
      w.u8(job.resumed ? 1 : 0);
      w.u32(job.working.length);
      for (const [k, v] of job.working) {
        w.str(k);
        w.str(v);
      }
    } else {
      w.u8(CBOR);
      w.bytes(encode(job));
    }
  } catch (e) {
    if (e instanceof RangeError) return -1;
    throw e;
  }
  return w.pos - at;
}

/** Read a job written by writeJob; `plans` holds (and receives) the plans this worker has seen. */
export function readJob(buf: Buffer, at: number, callId: number, plans: Map<number, TurnPlan>): { turn: TurnJob; plan: TurnPlan } | { call: CallJob } {
  const r = new Reader(buf, at);
  if (r.u8() === CBOR) return { call: decode(r.bytes()) as CallJob };
  const planId = r.u32();
  const raw = r.bytes();
  if (raw.length > 0) plans.set(planId, decode(raw) as TurnPlan);
  const plan = plans.get(planId);
  if (!plan) throw new Error(`job ${callId} names plan ${planId}, which this worker never received`);
  const sessionId = r.str();
  const userId = r.str();
  const traceId = r.str();
  const text = r.str();
  const start = r.u32();
  const resumed = r.u8() === 1;
  const working: Array<[string, string]> = [];
  for (let n = r.u32(); n > 0; n--) working.push([r.str(), r.str()]);
  return { turn: { callId, planId, plan: undefined, sessionId, userId, traceId, text, start, resumed, working }, plan };
}

/** Write a result at `at`; returns its length, or -1 if it does not fit. */
export function writeResult(buf: Buffer, at: number, limit: number, result: JobResult): number {
  const w = new Writer(buf, at, at + limit);
  const e = result.effects;
  try {
    if (result.ok && result.output === undefined && result.next === undefined && e.logs.length === 0 && e.denials.length === 0) {
      w.u8(BINARY);
      w.i32(result.cursor);
      w.u8(e.working ? 1 : 0);
      if (e.working) {
        w.u32(e.working.length);
        for (const [k, v] of e.working) {
          w.str(k);
          w.str(v);
        }
      }
      w.u32(e.outbox.length);
      for (const o of e.outbox) {
        w.str(o.channel);
        w.str(o.text);
      }
      w.u32(e.steps.length);
      for (const s of e.steps) {
        w.u32(s.node);
        w.f64(s.ms);
      }
      w.u32(result.evicted.length);
      for (const k of result.evicted) w.str(k);
    } else {
      w.u8(CBOR);
      w.bytes(encode(result));
    }
  } catch (err) {
    if (err instanceof RangeError) return -1;
    throw err;
  }
  return w.pos - at;
}

/** Read a result written by writeResult. */
export function readResult(buf: Buffer, at: number, callId: number): JobResult {
  const r = new Reader(buf, at);
  if (r.u8() === CBOR) return decode(r.bytes()) as JobResult;
  const cursor = r.i32();
  let working: Array<[string, string]> | null = null;
  if (r.u8() === 1) {
    working = [];
    for (let n = r.u32(); n > 0; n--) working.push([r.str(), r.str()]);
  }
  const outbox: Array<{ channel: string; text: string }> = [];
  for (let n = r.u32(); n > 0; n--) outbox.push({ channel: r.str(), text: r.str() });
  const steps: StepRecord[] = [];
  for (let n = r.u32(); n > 0; n--) steps.push({ node: r.u32(), ms: r.f64() });
  const evicted: string[] = [];
  for (let n = r.u32(); n > 0; n--) evicted.push(r.str());
  return { callId, ok: true, cursor, next: undefined, output: undefined, effects: { working, outbox, logs: [], denials: [], steps }, evicted };
}

/**
 * Run each codec path a few times on a scratch buffer, so the first real turn does not pay for
 * their first runs: cbor-x's and the wire's functions are compiled and their caches filled
 * here (~4 ms for the first plan decoded in a worker, ~3 ms for the first written, measured on
 * a JS guest's first message after a restart). Called once where a worker starts, and once by
 * the pool on the main thread. Writes nothing anywhere else.
 */
export function warmJobCodec(): void {
  const buf = Buffer.alloc(16 * 1024);
  const node = {
    id: 'n',
    type: 't',
    moduleKey: 'k',
    config: '{}',
    wasi: ['w'],
    scope: { state: 'read', limits: { a: 1, b: 2.5 } },
    next: -1,
    routes: [['r', 0]],
  };
  const plan = {
    tenantId: 't',
    envId: 'e',
    teamId: undefined,
    channel: 'c',
    flow: 'f',
    maxSteps: 8,
    sessionBase: { tenant: 't', env: 'e', team: 'm' },
    nodes: [node, node],
    single: false,
  };
  const plans = new Map<number, TurnPlan>();
  for (let i = 0; i < 16; i++) {
    const job: TurnJob = {
      callId: i,
      planId: 1,
      plan: plan as unknown as TurnPlan,
      sessionId: 's',
      userId: 'u',
      traceId: '0',
      text: 'hello',
      start: 0,
      resumed: false,
      working: [['k', 'v']],
    };
    writeJob(buf, 0, buf.length, job);
    readJob(buf, 0, i, plans);
    const steps = [{ node: 0, ms: 0.5 }];
    writeResult(buf, 0, buf.length, {
      callId: i,
      ok: true,
      cursor: -1,
      next: undefined,
      output: undefined,
      effects: { working: [['k', 'v']], outbox: [{ channel: 'c', text: 'ok' }], logs: [], denials: [], steps },
      evicted: [],
    });
    readResult(buf, 0, i);
    decode(encode({ callId: i, ok: false, failure: { kind: 'guest', code: 'trap', message: 'x', retryable: false }, node: 0, effects: { steps } }));
  }
}
