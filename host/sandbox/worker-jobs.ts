/**
 * What a worker does with a job: a whole turn (every node of the plan until the flow waits or
 * ends, the state read from the turn's snapshot, routing as the executor always did), or one
 * call of another kind (describe, raw). Each node call runs under its own InvocationScope, its
 * deadline published in shared memory for the main thread's deadline watch, its output checked
 * against the call's and the turn's budgets. Runs in the guest worker.
 */
import { performance } from 'node:perf_hooks';
import { CallAbort } from '../capabilities/errors.js';
import type { TurnState } from '../capabilities/scope.js';
import type { NextStep, NodeInvocation, NodeOutput } from '../components/node-world.js';
import type { GreenticCallInfo } from '../greentic/envelope.js';
import type { GreenticNode, NodeTurn } from '../greentic/node-adapter.js';
import { GreenticNodeError } from '../greentic/output.js';
import { runStateOf } from '../greentic/run-state.js';
import { DEFAULT_LIMITS } from '../tenancy/model.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import { changedWorking, FixedScopes, JobRecorder, WorkerCallScope } from './call-scope.js';
import { NodeError } from './errors.js';
import { checkNodeOutput } from './node-output.js';
import {
  STEP_DEADLINE,
  STEP_NODE,
  type CallJob,
  type FixedScope,
  type GuestFailure,
  type JobResult,
  type StepRecord,
  type TurnJob,
  type TurnPlan,
} from './protocol.js';
import { ValueBudget, ValueLimitError } from './value-budget.js';
import type { GuestLineSink } from './wasi-sandbox.js';
import { classify, type Instance, type WorkerInstances } from './worker-instances.js';

/** Runs jobs on a worker's instances; `current` is the node call whose capability calls are being served. */
export class JobRunner {
  current: WorkerCallScope | null = null;
  /** What the running call may still hand the host in strings and lists (between calls: instantiation's). */
  budget = ValueBudget.startup();
  readonly #fixed = new FixedScopes();

  constructor(
    private readonly instances: WorkerInstances,
    private readonly ctrl: Int32Array,
    /** The pool's epoch, for the deadlines published in STEP_DEADLINE. */
    private readonly epoch: number,
  ) {}

  /** Run a turn of `plan` from `job.start`. */
  async turn(job: TurnJob, plan: TurnPlan): Promise<JobResult> {
    const rec = new JobRecorder();
    const turn: TurnState = { working: new Map(job.working), outbox: [] };
    const ctx: TenantCtx = {
      tenantId: plan.tenantId,
      envId: plan.envId,
      teamId: plan.teamId,
      sessionId: job.sessionId,
      userId: job.userId,
      traceId: job.traceId,
    };
    const session = { ...plan.sessionBase, session: job.sessionId };
    const steps: StepRecord[] = [];
    const effects = () => ({ working: changedWorking(job.working, turn.working), outbox: turn.outbox, logs: rec.lines, denials: rec.denials, steps });
    const fail = (failure: GuestFailure, node: number): JobResult => ({
      callId: job.callId,
      ok: false,
      failure,
      node,
      effects: effects(),
      evicted: this.instances.takeEvicted(),
    });
    let at = job.start;
    let resumed = job.resumed;
    // What a Greentic node's input mapping reads of the turn so far: earlier nodes' outputs.
    const outputs = new Map<string, unknown>();
    let prev: unknown;
    for (let step = 1; ; step++) {
      if (step > plan.maxSteps) {
        const message = `flow "${plan.flow}" ran more than ${plan.maxSteps} nodes in one turn (a routing loop?)`;
        return fail({ kind: 'host', code: 'limit-exceeded', message, retryable: false }, at);
      }
      const node = plan.nodes[at]!;
      const t0 = performance.now();
      const deadlineAt = this.#enter(at, node.scope.limits.deadlineMs);
      const ws = new WorkerCallScope(ctx, session, node.scope, this.#fixed.get(node.scope), turn, rec, at);
      ws.deadlineAt = deadlineAt;
      const input: NodeInvocation = { nodeId: node.id, message: { text: job.text, userId: job.userId, channel: plan.channel }, config: node.config, resumed };
      const nodeTurn = () => ({ state: turn.working, prev, nodes: outputs, runState: runStateOf(ws.scope, plan.flow, node.id), inputSchema: node.inputSchema });
      const ran = await this.#call(ws, node.moduleKey, `${plan.tenantId}/${plan.envId}/${node.moduleKey}`, node.wasi, true, (i) =>
        runNode(i, { ...ctx }, input, { flow: plan.flow, component: node.type, deadlineAt, locale: plan.locale }, nodeTurn),
      );
      steps.push({ node: at, ms: performance.now() - t0 });
      if (!ran.ok) return fail(ran.failure, at);
      const { output: out, data } = ran.output as { output: NodeOutput; data: unknown };
      if (plan.single)
        return { callId: job.callId, ok: true, cursor: -1, next: out.next, output: out, effects: effects(), evicted: this.instances.takeEvicted() };
      out.replies.forEach((text, i) => {
        const rich = out.rich?.[i];
        turn.outbox.push(rich ? { channel: plan.channel, text, rich } : { channel: plan.channel, text });
      });
      prev = data;
      outputs.set(node.id, data);
      resumed = false;
      const next: NextStep = out.next;
      let to = node.next;
      if (next.tag === 'wait') return this.#done(job.callId, at, effects());
      if (next.tag === 'end') return this.#done(job.callId, -1, effects());
      if (next.tag === 'route') {
        const route = node.routes.find(([label]) => label === next.val);
        if (!route) {
          const declared = node.routes.map(([r]) => JSON.stringify(r)).join(', ') || 'no routes';
          const message = `node "${node.id}" of flow "${plan.flow}" chose route ${quoteLabel(next.val)}, but the flow declares ${declared} there`;
          return fail({ kind: 'host', code: 'invalid-output', message, retryable: false }, at);
        }
        to = route[1];
      }
      if (to < 0) return this.#done(job.callId, -1, effects());
      at = to;
    }
  }

  /** Run a describe or raw call (or a node call outside a flow). */
  async call(job: CallJob): Promise<JobResult> {
    const rec = new JobRecorder();
    const turn: TurnState = { working: new Map(), outbox: [] };
    const ws = new WorkerCallScope(job.ctx, job.session, job.fixed, this.#fixed.get(job.fixed), turn, rec, 0);
    ws.deadlineAt = this.#enter(0, job.fixed.limits.deadlineMs);
    const ran = await this.#call(ws, job.moduleKey, job.instanceKey, job.wasi, false, (i) => {
      const g = i.greentic;
      if (g === undefined)
        throw new GreenticNodeError('not-greentic', `component "${job.info.component}" is not a Greentic component (it exports greentic:host/node)`);
      if (job.kind === 'describe') return describeResult(g);
      return g.invokeRaw(job.ctx, job.raw?.op, job.raw?.payload, job.info, job.input.nodeId, job.inputSchema);
    });
    const effects = { working: null, outbox: [], logs: rec.lines, denials: rec.denials, steps: [] };
    const evicted = this.instances.takeEvicted();
    if (!ran.ok) return { callId: job.callId, ok: false, failure: ran.failure, node: 0, effects, evicted };
    return { callId: job.callId, ok: true, cursor: -1, next: undefined, output: ran.output, effects, evicted };
  }

  /**
   * Make a first call of `moduleKey` on an instance of its own, under a scope of no tenant, and
   * drop it: V8 compiles a module's functions on their first call, for every instance of the
   * module at once, so the spare that serves a tenant's first message (never called itself)
   * finds them compiled. What the call does (state, sends, logs) goes nowhere.
   */
  async warmUp(moduleKey: string, wasi: readonly string[]): Promise<void> {
    const fixed: FixedScope = {
      channel: WARM_UP,
      teamChannels: [WARM_UP],
      flow: WARM_UP,
      node: WARM_UP,
      component: WARM_UP,
      state: 'write',
      messaging: true,
      log: true,
      limits: DEFAULT_LIMITS,
    };
    const ctx: TenantCtx = { tenantId: WARM_UP, envId: WARM_UP, teamId: WARM_UP, sessionId: WARM_UP, userId: WARM_UP, traceId: '0'.repeat(32) };
    const session = { tenant: WARM_UP, env: WARM_UP, team: WARM_UP, session: WARM_UP };
    const ws = new WorkerCallScope(ctx, session, fixed, this.#fixed.get(fixed), { working: new Map(), outbox: [] }, new JobRecorder(), 0);
    let instance: Instance;
    try {
      instance = await this.instances.detached(moduleKey, wasi, () => {});
    } catch {
      return; // A call will say why it cannot be instantiated.
    }
    const input: NodeInvocation = { nodeId: WARM_UP, message: { text: 'hello', userId: WARM_UP, channel: WARM_UP }, config: '{}', resumed: false };
    instance.output.begin(() => {});
    this.current = ws;
    try {
      runNode(instance, ctx, input, { flow: WARM_UP, component: WARM_UP, deadlineAt: Date.now() + DEFAULT_LIMITS.deadlineMs }, () => ({
        state: new Map(),
        prev: undefined,
        nodes: new Map(),
      }));
    } catch {
      // Whatever the guest makes of a message of no tenant is of no interest: its code ran.
    } finally {
      this.current = null;
      instance.output.end();
    }
  }

  /**
   * One call on the instance for `key`: made if needed, entered with `ws` as the scope its
   * capability calls are checked against; a node call's output (`node`) is checked too.
   */
  async #call(
    ws: WorkerCallScope,
    moduleKey: string,
    key: string,
    wasi: readonly string[],
    node: boolean,
    run: (instance: Instance) => unknown,
  ): Promise<{ ok: true; output: unknown } | { ok: false; failure: GuestFailure }> {
    // The guest's stdout/stderr lines (from instantiation on) are log lines of the call, under its budgets.
    const emit: GuestLineSink = (stream, line) => void ws.scope.guestLog('info', { event: `guest-${stream}` }, line);
    let instance: Instance;
    this.budget = ValueBudget.of(ws.scope.permissions.component, ws.scope.permissions.limits);
    try {
      instance = (await this.instances.get(moduleKey, key, wasi, emit)).instance;
    } catch (e) {
      this.#leave();
      this.budget = ValueBudget.startup();
      const message = e instanceof Error ? e.message : String(e);
      return { ok: false, failure: e instanceof ValueLimitError ? { kind: 'limit', message } : { kind: 'instantiate', message } };
    }
    instance.output.begin(emit);
    this.current = ws;
    try {
      let output = run(instance);
      if (node) output = checkGreenticOrNode(output, ws.scope);
      this.instances.evictOverBudget();
      return { ok: true, output };
    } catch (e) {
      if ((e instanceof NodeError && !e.fromGuest) || e instanceof CallAbort) {
        // The host refused what the guest did; if that unwound the guest, its instance cannot be entered again.
        if (e instanceof CallAbort) this.instances.drop(key);
        return { ok: false, failure: { kind: 'host', code: e.code, message: e.message, retryable: e instanceof NodeError && e.retryable } };
      }
      const failure = classify(e, instance);
      // After a trap or an exit an instance cannot be entered again: drop it, the next call gets a fresh one.
      if (failure.kind !== 'node-error') this.instances.drop(key);
      return { ok: false, failure };
    } finally {
      this.current = null;
      this.budget = ValueBudget.startup();
      instance.output.end();
      this.#leave();
    }
  }

  /** Publish that plan node `node` runs now, with its deadline; returns the deadline as epoch ms (for Greentic's ctx). */
  #enter(node: number, deadlineMs: number): number {
    const now = performance.timeOrigin + performance.now();
    Atomics.store(this.ctrl, STEP_NODE, node);
    Atomics.store(this.ctrl, STEP_DEADLINE, Math.max(1, Math.ceil(now - this.epoch + deadlineMs)));
    return now + deadlineMs;
  }

  #leave(): void {
    Atomics.store(this.ctrl, STEP_DEADLINE, 0);
  }

  #done(callId: number, cursor: number, effects: JobResult['effects']): JobResult {
    return { callId, ok: true, cursor, next: undefined, output: undefined, effects, evicted: this.instances.takeEvicted() };
  }
}

/** The tenant, env, team, session, user, channel, flow and node of a warm-up call: an id no configuration can use (ids start with a letter or digit). */
const WARM_UP = '-warm-up';

/** Call an instance as a flow node: our world's invoke, or a Greentic component's op through its ABI's adapter (which also hands back its decoded output). */
function runNode(instance: Instance, ctx: TenantCtx, input: NodeInvocation, info: GreenticCallInfo, turn: () => NodeTurn): unknown {
  if (instance.greentic) return instance.greentic.invokeNode(ctx, input, info, turn());
  return { output: instance.node!.invoke(ctx, input), data: undefined, ours: true };
}

/** A node call's output checked against its budgets; an own-world node's data is its replies, for the next node's `prev`. */
function checkGreenticOrNode(ran: unknown, scope: WorkerCallScope['scope']): { output: NodeOutput; data: unknown } {
  const r = ran as { output: unknown; data: unknown; ours?: boolean };
  const output = checkNodeOutput(r.output, scope);
  return { output, data: r.ours ? { replies: output.replies } : r.data };
}

/** What describe answers: the descriptor, and whether the component lists its ops itself. */
function describeResult(g: GreenticNode): { descriptor: ReturnType<GreenticNode['describe']>; derived: boolean; opsListed: boolean; abi: string } {
  const d = g.adapter.describe();
  return { ...d, abi: g.adapter.abi };
}

/** A route label as the guest chose it, quoted and cut short for a message. */
function quoteLabel(label: string): string {
  return JSON.stringify(label.length > 64 ? `${label.slice(0, 64)}...` : label);
}
