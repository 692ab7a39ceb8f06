import type { GreenticHost } from '../../dist/host.js';
import type { ReloadReport } from '../../dist/flow/tenant-reports.js';

/**
 * The next reload report of `tenant` that `accept` takes (by default any but "unchanged": an
 * editor's save may come as two events, the second of which changes nothing). Register it
 * before changing the files.
 */
export function nextReload(host: GreenticHost, tenant: string, accept: (r: ReloadReport) => boolean = (r) => r.outcome !== 'unchanged'): Promise<ReloadReport> {
  return new Promise((resolve) => {
    const off = host.tenants.on((e) => {
      if (e.kind !== 'reload' || e.report.tenant !== tenant || !accept(e.report)) return;
      off();
      resolve(e.report);
    });
  });
}

/** Every reload report `host` makes from now on, for a test to look at afterwards. */
export function recordReloads(host: GreenticHost): ReloadReport[] {
  const seen: ReloadReport[] = [];
  host.tenants.on((e) => {
    if (e.kind === 'reload') seen.push(e.report);
  });
  return seen;
}
