import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * A full garbage collection of this thread's heap, now. Start-up (loading bundles, compiling
 * and instantiating components) leaves tens of MB of garbage and external memory; collected
 * on V8's own schedule, that lands on the first turns as a 10-30 ms pause. The host collects
 * it once per thread before it reports ready. `gc` is V8's, taken from a fresh context once
 * --expose-gc is on. The flag is process-wide and stays on: turning it off again would race
 * with a worker thread taking its own `gc` at the same moment.
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
