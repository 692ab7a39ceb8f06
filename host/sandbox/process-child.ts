/**
 * A sandbox process (process tier): the entry `child_process.fork` starts. It runs one guest
 * worker thread (worker.ts, as in the thread tier) and relays between that worker's shared
 * memory and the host's IPC channel (process-wire.ts). It never runs guest code on this thread,
 * holds no store and no secret: a capability call that needs the host goes to the host, which
 * checks it there. When the host goes away, so does this process.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { readCoreModule } from '../components/core-module.js';
import { DEADLINE_TICK_MS } from './deadlines.js';
import { ThreadWorker } from './guest-worker.js';
import { DONE_SEQ, doneLenSlot, doneOffset, DOORBELL, jobOffset, LEN, PRESSURE_INTS, REQ_SEQ, STEP_DEADLINE, STEP_NODE, type FromWorker } from './protocol.js';
import type { FromChild, Step, ToChild } from './process-wire.js';

if (!process.send) {
  process.stderr.write('process-child.js is started by the host (child_process.fork), not by hand\n');
  process.exit(2);
}
const send = (m: FromChild): void => void process.send!(m);
// Without the host this process has no purpose.
process.on('disconnect', () => process.exit(0));

const log = pino({ level: 'warn', base: { service: 'greentic-sandbox' } }, pino.destination({ dest: 2, sync: true }));
let worker: ThreadWorker | undefined;
/** Jobs received, and results sent on. */
let given = 0;
let seenDone = 0;
let seenReq = 0;
let lastStep: Step = { node: 0, deadline: 0 };
let stepTimer: NodeJS.Timeout | undefined;

function step(): Step {
  const w = worker!;
  return { node: Atomics.load(w.ctrl, STEP_NODE), deadline: Atomics.load(w.ctrl, STEP_DEADLINE) };
}

/** Send on what the worker posted: results in order, then a capability request. */
function flush(): void {
  const w = worker!;
  while (Atomics.load(w.ctrl, DONE_SEQ) !== seenDone) {
    const n = ++seenDone;
    const at = doneOffset(n);
    send({ t: 'done', n, bytes: Buffer.from(w.data.subarray(at, at + Atomics.load(w.ctrl, doneLenSlot(n)))), ...(lastStep = step()) });
  }
  const req = Atomics.load(w.ctrl, REQ_SEQ);
  if (req !== seenReq) {
    seenReq = req;
    send({ t: 'req', seq: req, bytes: Buffer.from(w.data.subarray(0, Atomics.load(w.ctrl, LEN))), ...(lastStep = step()) });
  }
  if (seenDone === given) {
    clearInterval(stepTimer);
    stepTimer = undefined;
  }
}

/** Wait on the worker's doorbell for as long as this process lives (asleep, not spinning, between rings). */
async function relay(): Promise<void> {
  const w = worker!;
  for (;;) {
    const bell = Atomics.load(w.ctrl, DOORBELL);
    flush();
    const waited = Atomics.waitAsync(w.ctrl, DOORBELL, bell);
    if (waited.async) await waited.value;
  }
}

/** While a job runs, the host's deadline watch sees the node it runs within one tick. */
function watchSteps(): void {
  stepTimer ??= setInterval(() => {
    const s = step();
    if (s.node !== lastStep.node || s.deadline !== lastStep.deadline) send({ t: 'step', ...(lastStep = s) });
  }, DEADLINE_TICK_MS);
}

/** Read a component's core modules from the cache, cap them again as the host did, and compile them here. */
async function load(m: Extract<ToChild, { t: 'load' }>): Promise<void> {
  const modules: Array<[string, WebAssembly.Module]> = [];
  for (const file of m.files) {
    const read = readCoreModule(await readFile(join(m.dir, file)), { memoryPages: m.memoryPages, tableElements: m.tableElements });
    modules.push([file, await WebAssembly.compile(read.bytes)]);
  }
  worker!.post({
    type: 'load',
    moduleKey: m.moduleKey,
    glueUrl: m.glueUrl,
    world: m.world,
    abi: m.abi,
    hostImports: m.hostImports,
    memoryBytes: m.memoryBytes,
    heapBytes: m.heapBytes,
    modules,
  });
}

function start(m: Extract<ToChild, { t: 'init' }>): void {
  const settings = {
    pressure: new SharedArrayBuffer(PRESSURE_INTS * 4),
    epoch: m.epoch,
    maxInstances: m.maxInstances,
    maxInstanceBytes: m.maxInstanceBytes,
    heapMib: m.heapMib,
  };
  const w = new ThreadWorker(1, settings, log, {
    ready: () => undefined,
    // The worker thread ended without the host asking: so does this process, and the host sees why.
    exit: (_w, how) => {
      log.error({ event: 'sandbox-worker-exit', how }, 'the sandbox worker thread stopped');
      process.exit(70);
    },
  });
  w.worker.on('message', (msg: FromWorker) => send({ t: 'worker', msg }));
  worker = w;
  void relay();
}

/** Messages that wait for a component being compiled: a job (its deadline starts when the worker takes it) and a spare request. */
const backlog: ToChild[] = [];
let loading = false;

function take(m: ToChild): void {
  const w = worker;
  if (!w) return;
  // A bridge reply is for the job running now: it never waits behind a compile.
  if (m.t === 'reply') {
    w.data.set(m.bytes, 0);
    Atomics.store(w.ctrl, LEN, m.bytes.length);
    return w.replied(m.seq);
  }
  if (loading) return void backlog.push(m);
  if (m.t === 'load') {
    loading = true;
    load(m).then(
      () => {
        loading = false;
        while (!loading && backlog.length > 0) take(backlog.shift()!);
      },
      (e: unknown) => {
        // A job would wait in the worker for modules that never come: end here, the host sees a crash.
        log.error({ event: 'sandbox-load-failed', module: m.moduleKey, err: String(e) }, 'a sandbox process could not load a component');
        process.exit(71);
      },
    );
  } else if (m.t === 'prepare') w.post({ type: 'prepare', moduleKey: m.moduleKey, wasi: m.wasi });
  else if (m.t === 'job') {
    w.data.set(m.bytes, jobOffset(m.n));
    given = m.n;
    watchSteps();
    w.jobWritten(m.n);
  }
}

process.on('message', (m: ToChild) => (m.t === 'init' ? start(m) : take(m)));
