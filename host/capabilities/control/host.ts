/**
 * greentic:component/control@0.5.0 and @0.6.0: `should-cancel` is true once the call's deadline
 * has passed (the worker is terminated soon after, but a cooperative component may stop first);
 * `yield-now` returns at once (a call runs alone on its worker). Neither reaches any data.
 */
export function controlImports(site: () => { deadlineAt: number }) {
  return {
    shouldCancel: (): boolean => Date.now() >= site().deadlineAt,
    yieldNow: (): void => undefined,
  };
}
