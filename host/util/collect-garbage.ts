import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * A full garbage collection of this thread's heap, now. A worker calls it once it has made its
 * spare instances: instantiation leaves garbage and external memory that, collected on V8's
 * own schedule, would land on the worker's first call as a 10 ms pause. (The main thread does
 * not: its heap is large, and a full collection there costs more than the pause it saves.)
 * `gc` is V8's, taken from a fresh context once --expose-gc is on. The flag is process-wide
 * and stays on: turning it off again would race with another worker taking its own `gc`.
 */
export function collectGarbage(): void {
  if (!gc) {
    const own = (globalThis as { gc?: () => void }).gc;
    if (own) gc = own;
    else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
}
