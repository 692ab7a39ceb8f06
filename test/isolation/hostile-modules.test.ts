import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentLoadError, ComponentRegistry, type CompiledComponent } from '../../dist/components/registry.js';
import { checkNodeOutput } from '../../dist/sandbox/node-output.js';
import { DEFAULT_CACHE_DIR } from '../../dist/paths.js';
import { NodeError } from '../../dist/sandbox/errors.js';
import { WorkerPool } from '../../dist/sandbox/pool.js';
import { DEFAULT_LIMITS } from '../../dist/tenancy/model.js';
import { fixtureWasm, tempDir } from '../support/bundle.js';
import { expectedOutcome, hostileComponent, hostileSpec, hostileWat, type HostileSpec } from '../support/hostile-module.js';
import { memoryLogger } from '../support/logs.js';
import { testScope } from '../support/scope.js';

/**
 * Random well-formed hostile modules, built, loaded and called one after another in one pool,
 * with another tenant's call after each. The invariant: this process never exits (a V8 fatal
 * error would end the test run), each module is refused at load with a clear problem or runs
 * and fails only its own call, as `expectedOutcome` predicts, and the other tenant is answered.
 * GREENTIC_HOSTILE_RUNS=N runs N modules (default 100: about 15 s).
 */
const RUNS = Number(process.env.GREENTIC_HOSTILE_RUNS ?? 100);
const SEED = Number(process.env.GREENTIC_HOSTILE_SEED ?? 20261201);

const input = (text: string) => ({ nodeId: 'n', message: { text, userId: 'u1', channel: 'slack' }, config: '{}', resumed: false });

describe('hostile-module generator', () => {
  const cache = tempDir('greentic-hostile-cache-');
  const registry = new ComponentRegistry(cache.dir);
  let pool: WorkerPool;
  let benign: CompiledComponent;
  beforeAll(async () => {
    pool = new WorkerPool({ logger: memoryLogger().logger, size: 2 });
    await pool.start();
    const shared = new ComponentRegistry(DEFAULT_CACHE_DIR);
    benign = await shared.compile(await shared.loadFile(fixtureWasm('faults')), 16, 'faults', { name: 'faults' });
  });
  afterAll(async () => {
    await pool?.close();
    cache.cleanup();
  });

  async function outcome(s: HostileSpec, n: number): Promise<{ refused: string } | { replies: string[] } | { code: string; message: string }> {
    const bytes = await hostileComponent(hostileWat(s));
    let compiled: CompiledComponent;
    try {
      const loaded = await registry.loadBytes(bytes, `gen-${n}.wasm`);
      compiled = await registry.compile(loaded, 64, `gen-${n}.wasm`, { name: 'gen' });
    } catch (e) {
      if (e instanceof ComponentLoadError) return { refused: e.message };
      throw e;
    }
    const { scope } = testScope({ perms: { component: 'gen', limits: { ...DEFAULT_LIMITS, deadlineMs: 30_000 } } });
    try {
      return { replies: checkNodeOutput(await pool.invoke({ component: compiled, scope, input: input('go') }), scope).replies };
    } catch (e) {
      if (e instanceof NodeError) return { code: e.code, message: e.message };
      throw e;
    }
  }

  it(
    `${RUNS} random modules: each refused at load or failing only its own call, and another tenant served after each`,
    async () => {
      let n = 0;
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(hostileSpec, async (s) => {
          n++;
          const got = await outcome(s, n);
          const want = expectedOutcome(s);
          const label = 'refused' in got ? 'refused' : 'code' in got ? got.code : 'ok';
          seen.set(label, (seen.get(label) ?? 0) + 1);
          if ('refused' in want) {
            expect(got).toHaveProperty('refused');
            expect((got as { refused: string }).refused).toMatch(/^gen-\d+\.wasm: component "gen"/);
            expect((got as { refused: string }).refused).toMatch(want.refused);
          } else if ('code' in want) {
            expect(got).toMatchObject({ code: want.code });
            expect((got as { message: string }).message).toMatch(/^component "gen" /);
          } else {
            expect(got).toEqual(want);
          }
          const bigcorp = testScope({ ctx: { tenantId: 'bigcorp', teamId: 'helpdesk' } }).scope;
          expect(await pool.invoke({ component: benign, scope: bigcorp, input: input('x') })).toEqual({ replies: ['ok'], next: { tag: 'end' } });
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      console.log(`hostile modules (seed ${SEED}): ${n} run, outcomes ${JSON.stringify(Object.fromEntries(seen))}`);
    },
    Math.max(60_000, RUNS * 2000),
  );

  it('a component that instantiates one core module twice (doubling what it declares) fails to instantiate', async () => {
    const jco = await import('@bytecodealliance/jco');
    const bytes = await jco.parse(`(component
      (core module $m (memory (export "memory") 1) (func (export "f")))
      (core instance $a (instantiate $m))
      (core instance $b (instantiate $m))
      (core func $fa (alias core export $a "f"))
      (core func $fb (alias core export $b "f"))
      (func (export "a") (canon lift (core func $fa)))
      (func (export "b") (canon lift (core func $fb))))`);
    const compiled = await registry.compile(await registry.loadBytes(bytes, 'twice.wasm'), 64, 'twice.wasm', { name: 'twice' });
    expect(compiled.footprint.memories).toBe(1);
    const { scope } = testScope({ perms: { component: 'twice' } });
    await expect(pool.invoke({ component: compiled, scope, input: input('go') })).rejects.toMatchObject({
      code: 'instantiate-failed',
      message: 'cannot instantiate component: it instantiates one of its core modules more than once; this host instantiates each once per instance',
    });
  });
});
