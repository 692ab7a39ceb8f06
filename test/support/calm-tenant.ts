import { performance } from 'node:perf_hooks';
import type { ConversationReply } from '../../dist/messaging/conversation.js';
import type { LeakWatch } from './leak-watch.js';

/** The median and 99th percentile of `xs`. */
export function percentiles(xs: readonly number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

/**
 * A tenant that only chats: one turn at a time on its own channel, timed. Its latency under attack is compared with its own baseline.
 */
export class CalmTenant {
  /** Turns taken while the attack ran, and with nothing else running (interleaved through the run, so the machine's own load weighs on both alike). */
  readonly latencies: number[] = [];
  readonly quiet: number[] = [];
  failures: string[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  #n = 0;

  /** `say` takes the tenant's n-th turn, as its own user on its own channel. */
  constructor(
    private readonly tenant: string,
    private readonly say: (n: number) => Promise<ConversationReply>,
    private readonly watch: LeakWatch,
  ) {}

  /** One timed turn. */
  async turn(): Promise<number> {
    const start = performance.now();
    const r = await this.say(++this.#n);
    const ms = performance.now() - start;
    this.watch.check(this.tenant, JSON.stringify(r), 'calm turn');
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
