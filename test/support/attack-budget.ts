import { appendFileSync } from 'node:fs';

/** Each part's share of GREENTIC_ATTACK_OPS: the host's doors (guest, REST, webchat: each op a request or a turn) and NATS publishes (each op one publish, far cheaper). */
const SHARE = { host: 0.3, nats: 0.7 } as const;

export interface AttackBudget {
  readonly seed: number;
  readonly ops: number;
  readonly batch: number;
  readonly runs: number;
  readonly timeoutMs: number;
  /** Attack operations in flight at once (GREENTIC_ATTACK_LANES, default 2). */
  readonly lanes: number;
  /**
   * The calm tenant's median under attack stays below this times its baseline median: 2 x (lanes + 1).
   * One event loop serves requests in arrival order, so with `lanes` attackers always in flight a calm turn
   * gets a 1/(lanes + 1) share at each step (measured on 2 cores: 1.6-1.9x its baseline at 1 lane, 2.4-3x at 2,
   * 3.5-5.5x at 4); the bound asks for at least half of that share.
   */
  readonly p50Ratio: number;
  /** At most 1% of its turns take longer than this times its baseline p99. */
  readonly slowRatio: number;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The size of an attack run: GREENTIC_ATTACK_OPS operations in all (default 400, `npm test`;
 * `npm run test:attack` runs 100,000), from GREENTIC_ATTACK_SEED (default: a fresh one, printed,
 * so that any run can be replayed exactly with the same ops and seed).
 */
export function attackBudget(part: keyof typeof SHARE): AttackBudget {
  const total = envInt('GREENTIC_ATTACK_OPS', 400);
  const seed = envInt('GREENTIC_ATTACK_SEED', Math.floor(Math.random() * 2 ** 31));
  // A batch is what runs between two baseline turns of the calm tenant.
  const batch = part === 'nats' ? 20 : 25;
  const lanes = Math.max(1, envInt('GREENTIC_ATTACK_LANES', 2));
  const runs = Math.max(1, Math.ceil((total * SHARE[part]) / batch));
  console.log(`attack ${part}: ${runs * batch} ops, replay with GREENTIC_ATTACK_SEED=${seed} GREENTIC_ATTACK_OPS=${total}`);
  // Up to 150 ms a host op and 10 ms a publish on a busy machine (2 cores shared by several test runs), and a minute to start.
  const opMs = part === 'nats' ? 10 : 150;
  return { seed, ops: runs * batch, batch, runs, timeoutMs: 60_000 + runs * batch * opMs, lanes, p50Ratio: 2 * (lanes + 1), slowRatio: 10 };
}

/** Print a run's result (and append it to GREENTIC_ATTACK_REPORT when set, for the README's record). */
export function reportRun(part: string, result: Record<string, unknown>): void {
  const line = JSON.stringify({ part, ...result });
  console.log(`attack result ${line}`);
  const file = process.env.GREENTIC_ATTACK_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}
