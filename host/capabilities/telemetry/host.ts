/**
 * greentic:telemetry/logger-api@1.0.0: `log(span, fields, ctx)` writes one line in the tenant's
 * log, tagged with the bound scope (never what the span claims), under the same line and byte
 * budgets as log.write and the guest's stdout. The span must name the bound tenant (and
 * session, when it names one); its flow, node and provider are logged as the guest's words.
 * The manifest's capabilities.host.telemetry is the permission.
 *
 * Guest errors (host-error codes): access-denied (ctx or span differ; no permission),
 * invalid-argument (too many fields), limit-exceeded (a log budget is spent).
 */
import { CapabilityError } from '../errors.js';
import { enterGreentic, hostError } from '../greentic-ctx.js';
import { loggedField, type InvocationScope } from '../scope.js';
import { quoteForMessage } from '../../tenancy/ids.js';

/** Fields one line may carry; longer keys and values are cut. */
export const MAX_TELEMETRY_FIELDS = 32;
const MAX_KEY = 64;
const MAX_VALUE = 1024;

export function telemetryImports(site: () => { scope: InvocationScope }) {
  return {
    log(span: unknown, fields: unknown, ctx: unknown): unknown {
      const { scope } = site();
      try {
        enterGreentic(scope, 'telemetry', 'log', ctx);
        if (!scope.permissions.log)
          scope.deny('telemetry', 'log', `component "${scope.permissions.component}" may not log (manifest capabilities.host.telemetry)`);
        const s = (typeof span === 'object' && span !== null ? span : {}) as Record<string, unknown>;
        if (s.tenant !== scope.ctx.tenantId)
          scope.deny('telemetry', 'log', `span names tenant ${quoteForMessage(s.tenant)} but this call is bound to tenant "${scope.ctx.tenantId}"`);
        if (s.sessionId !== undefined && s.sessionId !== null && s.sessionId !== scope.ctx.sessionId) {
          scope.deny('telemetry', 'log', `span names session ${quoteForMessage(s.sessionId)} but this call is bound to session "${scope.ctx.sessionId}"`);
        }
        if (!Array.isArray(fields) || fields.length > MAX_TELEMETRY_FIELDS) {
          throw scope.error('invalid-argument', 'telemetry', 'log', `fields must be a list of at most ${MAX_TELEMETRY_FIELDS} pairs`);
        }
        const guest: Array<[string, string]> = [];
        let message = 'telemetry';
        for (const f of fields as unknown[]) {
          const [k, v] = Array.isArray(f) ? f : [];
          const key = String(k).slice(0, MAX_KEY);
          const value = String(v).slice(0, MAX_VALUE);
          if (key === 'message' || key === 'msg') message = value;
          else guest.push([key, value]);
        }
        const line = {
          event: 'guest-telemetry',
          // fromEntries: a guest's "__proto__" key stays a key.
          fields: Object.fromEntries(guest),
          span: { flow: loggedField(s.flowId), node: loggedField(s.nodeId), provider: loggedField(s.provider) },
        };
        const spent = scope.guestLog('info', line, message);
        if (spent !== undefined) throw scope.error('limit-exceeded', 'telemetry', 'log', `the log budget of ${spent} is spent`);
        return 'ok';
      } catch (e) {
        if (e instanceof CapabilityError) return { tag: 'err', val: hostError(e) };
        throw e;
      }
    },
  };
}
