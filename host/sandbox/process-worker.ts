/**
 * The process tier's worker: a guest worker thread inside a supervised child process. The host
 * keeps a mirror of the worker's shared memory; jobs and bridge replies written there are sent
 * to the child, and results, bridge requests and the running node's deadline come back into it,
 * so the pool, doorbell, bridge and deadline watch treat it exactly as a thread. If the child
 * dies (a V8 fatal error, SIGKILL, an exit), only the calls it held fail; the pool starts
 * another, after the crash backoff (restart-backoff.ts).
 *
 * The child gets no environment (no secrets, no NODE_OPTIONS), no stdin, cwd `/`, a V8 heap cap
 * and no inherited exec arguments.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { greenticHostImports } from '../capabilities/greentic-interfaces.js';
import type { CompiledComponent } from '../components/registry.js';
import type { Logger } from '../observability/logger.js';
import { GuestWorker, type WorkerEvents, type WorkerSettings, type WorkerTransport } from './guest-worker.js';
import {
  BRIDGE_BYTES,
  CTRL_INTS,
  DATA_BYTES,
  DONE_SEQ,
  doneLenSlot,
  doneOffset,
  JOB_BYTES,
  jobOffset,
  LEN,
  REQ_SEQ,
  STEP_DEADLINE,
  STEP_NODE,
  type ToWorker,
} from './protocol.js';
import { RELAY_HEAP_MIB, type FromChild, type Step, type ToChild } from './process-wire.js';
import { RestartBackoff } from './restart-backoff.js';

const CHILD_PATH = fileURLToPath(new URL('./process-child.js', import.meta.url));
/** How much of a dead child's stderr (a V8 fatal error's message) is logged. */
const STDERR_TAIL = 2048;

/** What a process worker is started with. */
export interface ProcessOptions {
  /** The tenant whose guests it runs (logs). */
  readonly tenant: string;
  /** Wait this long before starting it (crash backoff). */
  readonly delayMs: number;
  /** It is gone, however it ended. */
  readonly gone: () => void;
}

const isStep = (m: { node?: unknown; deadline?: unknown }): boolean =>
  Number.isInteger(m.node) && typeof m.deadline === 'number' && Number.isFinite(m.deadline);

export class ProcessWorker extends GuestWorker {
  readonly spins = false;
  readonly noun = 'the sandbox process running this call died';
  #child: ChildProcess | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #outbox: ToChild[] = [];
  #stderr = '';
  #exited!: () => void;
  readonly #gone = new Promise<void>((r) => (this.#exited = r));

  constructor(
    id: number,
    private readonly settings: WorkerSettings,
    private readonly log: Logger,
    on: WorkerEvents,
    private readonly opts: ProcessOptions,
  ) {
    super(id, new SharedArrayBuffer(CTRL_INTS * 4), new SharedArrayBuffer(DATA_BYTES), on);
    this.#send({
      t: 'init',
      epoch: settings.epoch,
      maxInstances: settings.maxInstances,
      maxInstanceBytes: settings.maxInstanceBytes,
      heapMib: settings.heapMib ?? 512,
    });
    if (opts.delayMs > 0) this.#timer = setTimeout(() => this.#fork(), opts.delayMs);
    else this.#fork();
  }

  /** The child's process id, once it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  post(msg: ToWorker): void {
    if (msg.type === 'prepare') this.#send({ t: 'prepare', moduleKey: msg.moduleKey, wasi: msg.wasi });
  }

  jobWritten(callId: number, length: number): void {
    const at = jobOffset(callId);
    this.#send({ t: 'job', n: callId, bytes: Buffer.from(this.data.subarray(at, at + length)) });
  }

  replied(seq: number): void {
    this.#send({ t: 'reply', seq, bytes: Buffer.from(this.data.subarray(0, Atomics.load(this.ctrl, LEN))) });
  }

  protected sendLoad(c: CompiledComponent): void {
    const { component } = c;
    this.#send({
      t: 'load',
      moduleKey: c.key,
      glueUrl: component.glueUrl,
      world: component.world,
      abi: component.abi,
      hostImports: greenticHostImports(component.versionedImports),
      memoryBytes: c.memoryBytes,
      heapBytes: c.heapBytes,
      dir: component.dir,
      files: [...c.modules.keys()],
      memoryPages: Math.max(1, Math.floor(c.memoryBytes / 65536)),
      tableElements: c.tableElements,
    });
  }

  async terminate(): Promise<void> {
    this.alive = false;
    this.ring();
    clearTimeout(this.#timer);
    const child = this.#child;
    if (!child) {
      // Retired while it waited out its backoff: whatever waits for its start is released.
      this.opts.gone();
      return this.exited('retired before it started');
    }
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await this.#gone;
  }

  #send(msg: ToChild): void {
    const child = this.#child;
    if (!child) return void this.#outbox.push(msg);
    if (!child.connected) return;
    child.send(msg, (err) => {
      // The child is gone; its exit event fails what it held.
      if (err && this.alive) this.log.warn({ event: 'sandbox-send-failed', worker: this.id, err: err.message }, 'could not reach a sandbox process');
    });
  }

  #fork(): void {
    this.#timer = undefined;
    if (!this.alive) return;
    const child = fork(CHILD_PATH, [], {
      env: {},
      cwd: '/',
      execArgv: [`--max-old-space-size=${RELAY_HEAP_MIB}`],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.#child = child;
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.on('message', (m: FromChild) => this.#heardChild(m));
    child.on('error', (err) => {
      this.log.error({ event: 'sandbox-error', worker: this.id, tenant_id: this.opts.tenant, err: err.message }, 'sandbox process failed');
      if (child.pid === undefined) this.#died(`could not start: ${err.message}`);
    });
    child.on('exit', (code, signal) => this.#died(signal ? `signal ${signal}` : `exit code ${code}`));
    this.log.info({ event: 'sandbox-process-start', worker: this.id, tenant_id: this.opts.tenant, pid: child.pid }, 'sandbox process started');
    for (const msg of this.#outbox.splice(0)) this.#send(msg);
  }

  #died(how: string): void {
    if (this.alive) {
      this.log.error(
        { event: 'sandbox-process-exit', worker: this.id, tenant_id: this.opts.tenant, how, stderr_tail: this.#stderr.trim() || undefined },
        'sandbox process died',
      );
    }
    this.#exited();
    this.opts.gone();
    this.exited(how);
  }

  /** Copy what the child's worker posted into the mirror, as the worker would have written it, and ring. */
  #heardChild(m: FromChild): void {
    if (!this.alive) return;
    if (m.t === 'worker') return this.heard(m.msg);
    if (!isStep(m)) return this.#malformed();
    if (m.t === 'step') return this.#step(m);
    if (m.t === 'done') {
      if (
        !Number.isInteger(m.n) ||
        m.n !== Atomics.load(this.ctrl, DONE_SEQ) + 1 ||
        m.n > this.written ||
        !(m.bytes instanceof Uint8Array) ||
        m.bytes.length > JOB_BYTES
      )
        return this.#malformed();
      this.data.set(m.bytes, doneOffset(m.n));
      Atomics.store(this.ctrl, doneLenSlot(m.n), m.bytes.length);
      this.#step(m);
      Atomics.store(this.ctrl, DONE_SEQ, m.n);
    } else if (m.t === 'req') {
      if (!Number.isInteger(m.seq) || !(m.bytes instanceof Uint8Array) || m.bytes.length > BRIDGE_BYTES) return this.#malformed();
      this.data.set(m.bytes, 0);
      Atomics.store(this.ctrl, LEN, m.bytes.length);
      this.#step(m);
      Atomics.store(this.ctrl, REQ_SEQ, m.seq);
    } else return this.#malformed();
    this.ring();
  }

  #step(s: Step): void {
    Atomics.store(this.ctrl, STEP_NODE, s.node);
    Atomics.store(this.ctrl, STEP_DEADLINE, s.deadline);
  }

  /** A child that breaks the wire (only a compromised one would) is killed; its calls fail as a crash. */
  #malformed(): void {
    this.log.error({ event: 'sandbox-malformed', worker: this.id, tenant_id: this.opts.tenant }, 'a sandbox process sent a malformed message; killing it');
    this.#child?.kill('SIGKILL');
  }
}

/**
 * The process tier's transport for one tenant's pool: each worker a child process, restarted
 * after a crash no sooner than the backoff allows, and a crash loop reported.
 */
export class ProcessTransport implements WorkerTransport {
  readonly #backoff = new RestartBackoff();
  readonly #workers = new Set<ProcessWorker>();

  constructor(private readonly tenant: string) {}

  spawn(id: number, settings: WorkerSettings, log: Logger, on: WorkerEvents): ProcessWorker {
    const delayMs = this.#backoff.delayMs();
    if (delayMs > 0 && this.#backoff.looping()) {
      log.warn({ event: 'sandbox-crash-loop', tenant_id: this.tenant, delay_ms: delayMs }, 'sandbox processes keep dying; the next one starts after a backoff');
    }
    const w = new ProcessWorker(
      id,
      settings,
      log,
      {
        ready: on.ready,
        exit: (x, how) => {
          this.#backoff.crashed();
          on.exit(x, how);
        },
      },
      { tenant: this.tenant, delayMs, gone: () => this.#workers.delete(w) },
    );
    this.#workers.add(w);
    return w;
  }

  /** The process ids of its live children (tests, operators). */
  pids(): number[] {
    return [...this.#workers].flatMap((w) => (w.alive && w.pid !== undefined ? [w.pid] : []));
  }
}
