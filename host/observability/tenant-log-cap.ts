import type { DestinationStream } from 'pino';

/** How much one tenant may log per interval. */
export interface TenantLogLimits {
  /** Lines per tenant per interval (default 1000). */
  readonly lines?: number;
  /** Bytes per tenant per interval (default 512 KiB). */
  readonly bytes?: number;
  /** The interval (ms, default 10000). */
  readonly intervalMs?: number;
  /** Tenants tracked at once (least recently logging forgotten first; default 10000). */
  readonly maxTenants?: number;
}

interface Window {
  start: number;
  lines: number;
  bytes: number;
  droppedLines: number;
  droppedBytes: number;
}

const TENANT_FIELD = '"tenant_id":"';
/** The label drops of tenants past `maxTenants` are counted under (not an id: ids have no "*"). */
const OTHERS = '*others*';

/**
 * A log destination that caps each tenant's volume: a line carrying `tenant_id` counts against
 * that tenant's lines and bytes for the current interval; past either, the tenant's lines are
 * dropped (counted) until the next interval, and one `log-dropped` line per interval says how many.
 * Lines of other tenants, and host lines without a tenant, always pass.
 *
 * The tenant is the first `"tenant_id":"` in the serialised line: pino writes a child logger's
 * bindings (the host-bound scope) before the logged object, and inside a JSON string a quote is
 * always escaped, so no message text can pose as that field.
 */
export class TenantLogCap implements DestinationStream {
  readonly #dest: DestinationStream;
  readonly #lines: number;
  readonly #bytes: number;
  readonly #intervalMs: number;
  readonly #maxTenants: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();
  readonly #totals = new Map<string, { lines: number; bytes: number }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(dest: DestinationStream, limits: TenantLogLimits = {}, now: () => number = Date.now) {
    this.#dest = dest;
    this.#lines = limits.lines ?? 1000;
    this.#bytes = limits.bytes ?? 512 * 1024;
    this.#intervalMs = limits.intervalMs ?? 10_000;
    this.#maxTenants = limits.maxTenants ?? 10_000;
    this.#now = now;
  }

  write(line: string): void {
    const tenant = tenantOf(line);
    if (tenant === undefined) {
      this.#dest.write(line);
      return;
    }
    const now = this.#now();
    let w = this.#windows.get(tenant);
    if (w && now - w.start >= this.#intervalMs) {
      this.#report(tenant, w);
      w = undefined;
    }
    if (!w) {
      w = { start: now, lines: 0, bytes: 0, droppedLines: 0, droppedBytes: 0 };
      this.#remember(tenant, w);
    }
    const size = Buffer.byteLength(line);
    if (w.lines + 1 > this.#lines || w.bytes + size > this.#bytes) {
      w.droppedLines++;
      w.droppedBytes += size;
      // Bounded like the windows: past maxTenants, drops are summed under one label.
      const label = this.#totals.has(tenant) || this.#totals.size < this.#maxTenants ? tenant : OTHERS;
      const t = this.#totals.get(label) ?? { lines: 0, bytes: 0 };
      t.lines++;
      t.bytes += size;
      this.#totals.set(label, t);
      this.#armReport();
      return;
    }
    w.lines++;
    w.bytes += size;
    this.#dest.write(line);
  }

  /** Lines and bytes dropped per tenant since the start (for the metrics). */
  droppedTotals(): ReadonlyMap<string, { readonly lines: number; readonly bytes: number }> {
    return this.#totals;
  }

  /** Report every drop so far now (at exit, so that none goes unsaid). */
  flushReports(): void {
    for (const [tenant, w] of this.#windows) this.#report(tenant, w);
  }

  #remember(tenant: string, w: Window): void {
    this.#windows.delete(tenant);
    this.#windows.set(tenant, w);
    if (this.#windows.size <= this.#maxTenants) return;
    const [oldest, ow] = this.#windows.entries().next().value as [string, Window];
    this.#report(oldest, ow);
    this.#windows.delete(oldest);
  }

  /** One line saying what a tenant lost in an interval (written past the cap: it is the host's line). */
  #report(tenant: string, w: Window): void {
    if (w.droppedLines === 0) return;
    this.#dest.write(
      `${JSON.stringify({
        level: 40,
        time: new Date(this.#now()).toISOString(),
        service: 'greentic-host',
        tenant_id: tenant,
        event: 'log-dropped',
        lines: w.droppedLines,
        bytes: w.droppedBytes,
        interval_ms: this.#intervalMs,
        limits: { lines: this.#lines, bytes: this.#bytes },
        msg: "the tenant's log volume went over its cap; lines were dropped",
      })}\n`,
    );
    w.droppedLines = 0;
    w.droppedBytes = 0;
  }

  /** Report drops at the end of their interval even if the tenant logs nothing more. */
  #armReport(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = this.#now();
      let pending = false;
      for (const [tenant, w] of this.#windows) {
        if (w.droppedLines === 0) continue;
        if (now - w.start >= this.#intervalMs) this.#report(tenant, w);
        else pending = true;
      }
      if (pending) this.#armReport();
    }, this.#intervalMs);
    this.#timer.unref();
  }
}

function tenantOf(line: string): string | undefined {
  const at = line.indexOf(TENANT_FIELD);
  if (at < 0) return undefined;
  const start = at + TENANT_FIELD.length;
  const end = line.indexOf('"', start);
  // Tenant ids are short (63 characters); anything longer is not one.
  return end < 0 || end - start > 64 ? undefined : line.slice(start, end);
}
