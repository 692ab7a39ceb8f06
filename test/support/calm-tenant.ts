import { performance } from 'node:perf_hooks';
import type { TestHost } from './host.js';
import type { LeakWatch } from './leak-watch.js';
import type { ChannelAddress } from '../../dist/messaging/subjects.js';

/** The median and 99th percentile of `xs`. */
export function percentiles(xs: readonly number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

/**
 * A tenant that only chats: one turn at a time on its own channel, each reading its secret and
 * writing its state, timed. Its latency under attack is compared with its own baseline.
 */
export class CalmTenant {
  /** Turns taken while the attack ran, and with nothing else running (interleaved through the run, so the machine's own load weighs on both alike). */
  readonly latencies: number[] = [];
  readonly quiet: number[] = [];
  failures: string[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  #n = 0;

  constructor(
    private readonly t: TestHost,
    private readonly address: ChannelAddress,
    private readonly watch: LeakWatch,
  ) {}

  /** One timed turn. */
  async turn(): Promise<number> {
    const script = {
      calls: [
        { fn: 'state.set', args: ['n', String(++this.#n)] },
        { fn: 'secrets.get', args: ['api_key'] },
        { fn: 'state.list-keys', args: [] },
      ],
      next: 'wait',
    };
    const start = performance.now();
    const r = await this.t.say(this.address, 'calm', JSON.stringify(script));
    const ms = performance.now() - start;
    this.watch.check(this.address.tenant, JSON.stringify(r), 'calm turn');
    if (!r.ok) this.failures.push(`${r.code}: ${r.message}`);
    return ms;
  }

  /** `n` turns with nothing else running: its baseline, measured between attack batches. */
  async baseline(n: number, keep = true): Promise<void> {
    for (let i = 0; i < n; i++) {
      const ms = await this.turn();
      if (keep) this.quiet.push(ms);
    }
  }

  /** Chat on, one turn after another, until stopped (a short pause between turns: a person typing, not a load). */
  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        this.latencies.push(await this.turn());
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}
