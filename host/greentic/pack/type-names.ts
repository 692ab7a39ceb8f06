import { isValidId, whyInvalid } from '../../tenancy/ids.js';

/**
 * The type name a tenant grants a pack's component by and its flows use: the name the tenant's
 * config gives it, else the last dot-separated part of the pack's id for it
 * ("ai.greentic.component-echo" -> "component-echo"). Either way it must be an id of the one
 * grammar, and it is the tenant's own: another tenant's pack with the same component id is
 * another component.
 */
export function packTypeName(componentId: string, names: ReadonlyMap<string, string>): { ok: true; name: string } | { ok: false; why: string } {
  const named = names.get(componentId);
  if (named !== undefined) return { ok: true, name: named };
  const tail: string = componentId.slice(componentId.lastIndexOf('.') + 1);
  if (isValidId(tail)) return { ok: true, name: tail };
  return {
    ok: false,
    why: `component "${componentId.slice(0, 120)}" has no type name: "${String(tail).slice(0, 80)}" is not one (${whyInvalid('component', tail)}); name it in packs[].components`,
  };
}
