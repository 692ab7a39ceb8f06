/**
 * How calls and results are written into a worker's shared memory. The common case (a flow
 * node call, a result with replies and state, no logs) is a compact binary record; a call's
 * fixed parts (which component, which scope and permissions) travel once per worker as a
 * template and calls name it by number. Everything else is CBOR. Encoding a call this way
 * costs about a microsecond, where a general-purpose encoding cost several.
 */
import { decode, encode } from 'cbor-x';
import type { GreenticCallInfo } from '../greentic/envelope.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import type { CallEffects, CallJob, CallResult, FixedScope, NextStep, NodeOutput } from './protocol.js';

const BINARY = 1;
const CBOR = 2;
const NEXT = ['proceed', 'route', 'wait', 'end'] as const;

/** The parts of a node call that are the same for every call of one node in one scope. */
export interface CallTemplate {
  readonly moduleKey: string;
  readonly instanceKey: string;
  readonly tenantId: string;
  readonly envId: string;
  readonly teamId: string | undefined;
  readonly nodeId: string;
  readonly config: string;
  readonly info: Omit<GreenticCallInfo, 'deadlineAt'>;
  readonly wasi: string[];
  /** The scope snapshot's fixed part, and the session key without its session id. */
  readonly fixed: FixedScope;
  readonly sessionBase: { readonly tenant: string; readonly env: string; readonly team: string };
}

/** A node call in its compact form: a template and what varies per call. */
export interface CompactCall {
  readonly callId: number;
  readonly templateId: number;
  /** Included the first time a worker sees the template. */
  readonly template: CallTemplate | undefined;
  readonly sessionId: string;
  readonly userId: string;
  readonly traceId: string;
  readonly text: string;
  readonly resumed: boolean;
  readonly deadlineAt: number;
  readonly working: ReadonlyArray<[string, string]>;
}

class Writer {
  pos: number;
  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly limit: number,
  ) {
    this.pos = start;
  }
  #room(n: number): void {
    if (this.pos + n > this.limit) throw new RangeError('does not fit');
  }
  u8(v: number): void {
    this.#room(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.#room(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  f64(v: number): void {
    this.#room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  str(s: string): void {
    // At most 3 bytes per UTF-16 unit: reserve that much, then write the real length.
    this.#room(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4 + n;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.#room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }
  u8(): number {
    return this.buf[this.pos++]!;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  str(): string {
    const n = this.u32();
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** Write a call at `at`; returns its length, or -1 if it does not fit in `limit` bytes. */
export function writeCall(buf: Buffer, at: number, limit: number, call: CompactCall | CallJob): number {
  const w = new Writer(buf, at, at + limit);
  try {
    if ('templateId' in call) {
      w.u8(BINARY);
      w.u32(call.templateId);
      if (call.template) w.bytes(encode(call.template));
      else w.u32(0);
      w.str(call.sessionId);
      w.str(call.userId);
      w.str(call.traceId);
      w.str(call.text);
      w.u8(call.resumed ? 1 : 0);
      w.f64(call.deadlineAt);
      w.u32(call.working.length);
      for (const [k, v] of call.working) {
        w.str(k);
        w.str(v);
      }
    } else {
      w.u8(CBOR);
      w.bytes(encode(call));
    }
  } catch (e) {
    if (e instanceof RangeError) return -1;
    throw e;
  }
  return w.pos - at;
}

/** Read a call written by writeCall; `templates` holds (and receives) the templates this worker has seen. */
export function readCall(buf: Buffer, at: number, callId: number, templates: Map<number, CallTemplate>): CallJob {
  const r = new Reader(buf, at);
  if (r.u8() === CBOR) return decode(r.bytes()) as CallJob;
  const templateId = r.u32();
  const raw = r.bytes();
  if (raw.length > 0) templates.set(templateId, decode(raw) as CallTemplate);
  const t = templates.get(templateId);
  if (!t) throw new Error(`call ${callId} names template ${templateId}, which this worker never received`);
  const sessionId = r.str();
  const userId = r.str();
  const traceId = r.str();
  const text = r.str();
  const resumed = r.u8() === 1;
  const deadlineAt = r.f64();
  const working: Array<[string, string]> = [];
  for (let n = r.u32(); n > 0; n--) working.push([r.str(), r.str()]);
  const ctx: TenantCtx = { tenantId: t.tenantId, envId: t.envId, teamId: t.teamId, sessionId, userId, traceId };
  const base = t.sessionBase;
  return {
    callId,
    kind: 'node',
    moduleKey: t.moduleKey,
    instanceKey: t.instanceKey,
    ctx,
    input: { nodeId: t.nodeId, message: { text, userId, channel: t.fixed.channel }, config: t.config, resumed },
    info: { flow: t.info.flow, component: t.info.component, deadlineAt },
    raw: undefined,
    wasi: t.wasi,
    scope: { session: { tenant: base.tenant, env: base.env, team: base.team, session: sessionId }, working, fixed: t.fixed },
  };
}

function isNodeOutput(v: unknown): v is NodeOutput {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as { replies?: unknown; next?: { tag?: unknown; val?: unknown } };
  return (
    Array.isArray(o.replies) &&
    o.replies.every((r) => typeof r === 'string') &&
    typeof o.next === 'object' &&
    NEXT.includes(o.next?.tag as never) &&
    (o.next?.tag !== 'route' || typeof o.next.val === 'string')
  );
}

/** Write a result at `at`; returns its length, or -1 if it does not fit. */
export function writeResult(buf: Buffer, at: number, limit: number, result: CallResult): number {
  const w = new Writer(buf, at, at + limit);
  const e = result.effects;
  try {
    if (result.ok && isNodeOutput(result.output) && e.logs.length === 0 && e.denials.length === 0) {
      const out = result.output;
      w.u8(BINARY);
      w.u8(result.instantiated ? 1 : 0);
      w.f64(result.memoryBytes);
      w.u32(out.replies.length);
      for (const r of out.replies) w.str(r);
      w.u8(NEXT.indexOf(out.next.tag));
      if (out.next.tag === 'route') w.str(out.next.val);
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
      w.u32(e.capabilityCalls);
      w.u32(e.outputBytes);
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
export function readResult(buf: Buffer, at: number, callId: number): CallResult {
  const r = new Reader(buf, at);
  if (r.u8() === CBOR) return decode(r.bytes()) as CallResult;
  const instantiated = r.u8() === 1;
  const memoryBytes = r.f64();
  const replies: string[] = [];
  for (let n = r.u32(); n > 0; n--) replies.push(r.str());
  const tag = NEXT[r.u8()]!;
  const next: NextStep = tag === 'route' ? { tag, val: r.str() } : { tag };
  let working: Array<[string, string]> | null = null;
  if (r.u8() === 1) {
    working = [];
    for (let n = r.u32(); n > 0; n--) working.push([r.str(), r.str()]);
  }
  const outbox: Array<{ channel: string; text: string }> = [];
  for (let n = r.u32(); n > 0; n--) outbox.push({ channel: r.str(), text: r.str() });
  const capabilityCalls = r.u32();
  const outputBytes = r.u32();
  const evicted: string[] = [];
  for (let n = r.u32(); n > 0; n--) evicted.push(r.str());
  const effects: CallEffects = { working, outbox, logs: [], denials: [], capabilityCalls, outputBytes };
  return { callId, ok: true, output: { replies, next }, instantiated, memoryBytes, evicted, effects };
}
