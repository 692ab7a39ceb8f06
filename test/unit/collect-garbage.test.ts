import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../dist/util/collect-garbage.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('collectGarbage', () => {
  it('collects what nothing references any more, every time it is called', async () => {
    for (let round = 0; round < 2; round++) {
      let ref: WeakRef<object> | undefined;
      (() => {
        ref = new WeakRef({ garbage: new Array(1000).fill(round) });
      })();
      // A WeakRef's target is kept alive until the job that made (or last dereferenced) it ends.
      await tick();
      collectGarbage();
      expect(ref!.deref()).toBeUndefined();
    }
  });

  it('leaves what is still referenced', () => {
    const kept = { value: 42 };
    const ref = new WeakRef(kept);
    collectGarbage();
    expect(ref.deref()).toBe(kept);
  });
});
