/**
 * Per-host counters the capabilities and the executor update. The metrics endpoint reads
 * them; nothing here is module-level, every host has its own.
 */
export interface DenialEvent {
  readonly capability: string;
  readonly fn: string;
  readonly tenant: string;
  readonly env: string;
  readonly team: string | undefined;
  readonly reason: string;
}

export class HostStats {
  readonly denials: DenialEvent[] = [];
  denialCount = 0;

  /** Record an access denial (the last 100 are kept for inspection). */
  recordDenial(event: DenialEvent): void {
    this.denialCount++;
    this.denials.push(event);
    if (this.denials.length > 100) this.denials.shift();
  }
}
