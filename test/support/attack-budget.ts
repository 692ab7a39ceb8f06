import { appendFileSync } from 'node:fs';

/** Each part's share of GREENTIC_ATTACK_OPS: the host's doors (guest, REST, webchat: each op a request or a turn) and NATS publishes (each op one publish, far cheaper). */
const SHARE = { host: 0.3, nats: 0.7 } as const;

export interface AttackBudget {
  readonly seed: number;
  readonly ops: number;
  readonly batch: number;
  readonly runs: number;
  readonly timeoutMs: number;
  /** The calm tenant's median under attack stays below this times its baseline median. */
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
  const runs = Math.max(1, Math.ceil((total * SHARE[part]) / batch));
  console.log(`attack ${part}: ${runs * batch} ops, replay with GREENTIC_ATTACK_SEED=${seed} GREENTIC_ATTACK_OPS=${total}`);
  // Up to 150 ms a host op and 10 ms a publish on a busy machine (2 cores shared by several test runs), and a minute to start.
  const opMs = part === 'nats' ? 10 : 150;
  return { seed, ops: runs * batch, batch, runs, timeoutMs: 60_000 + runs * batch * opMs, p50Ratio: 6, slowRatio: 10 };
}

/** Print a run's result (and append it to GREENTIC_ATTACK_REPORT when set, for the README's record). */
export function reportRun(part: string, result: Record<string, unknown>): void {
  const line = JSON.stringify({ part, ...result });
  console.log(`attack result ${line}`);
  const file = process.env.GREENTIC_ATTACK_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}
