/**
 * The wire between the host and a sandbox process (process tier): the same job protocol as a
 * worker thread's shared memory (protocol.ts), carried as IPC messages. A child runs a relay
 * (process-child.ts) that copies each message into its own worker thread's shared memory and
 * back, so the worker, the job codec and every capability check are the thread tier's code.
 */
import type { ComponentWorld } from '../components/registry.js';
import type { FromWorker } from './protocol.js';

/** The heap of a sandbox process's own (relay) thread: it holds messages in flight, never a guest. */
export const RELAY_HEAP_MIB = 64;

export type ToChild =
  | { t: 'init'; epoch: number; maxInstances: number; maxInstanceBytes: number; heapMib: number }
  /** A component's core modules, to read from the cache and cap again (compiled modules cannot cross a process). */
  | {
      t: 'load';
      moduleKey: string;
      glueUrl: string;
      world: ComponentWorld;
      memoryBytes: number;
      heapBytes: number;
      dir: string;
      files: string[];
      memoryPages: number;
      tableElements: number;
    }
  | { t: 'prepare'; moduleKey: string; wasi: string[] }
  /** Job n, as written into the host's JOB slot. */
  | { t: 'job'; n: number; bytes: Uint8Array }
  /** The reply to bridge request `seq`. */
  | { t: 'reply'; seq: number; bytes: Uint8Array };

/** Where the child's worker is: the plan node it runs and that node's deadline (STEP_NODE, STEP_DEADLINE). */
export interface Step {
  readonly node: number;
  readonly deadline: number;
}

export type FromChild =
  | { t: 'worker'; msg: FromWorker }
  /** The result of job n, as its worker wrote it. */
  | ({ t: 'done'; n: number; bytes: Uint8Array } & Step)
  /** Bridge request `seq` (a capability call the host answers). */
  | ({ t: 'req'; seq: number; bytes: Uint8Array } & Step)
  | ({ t: 'step' } & Step);
