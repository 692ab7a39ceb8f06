import { ComponentBuildError } from './builder.js';

/**
 * TypeScript declarations of a WIT world from a guest's point of view (`declare module
 * 'greentic:host/state@0.1.0' { ... }` for each import, the exported interfaces' types), so a
 * JS author's editor completes ctx, input and the capability functions.
 *
 * jco-transpile reads the WIT through preview2-shim's filesystem: like the builder, this runs
 * only in a build process that opened `wit` (prepareBuildProcess).
 */
export async function generateGuestTypeFiles(wit: string, world: string): Promise<Record<string, string>> {
  const { generateGuestTypes } = await import('@bytecodealliance/jco-transpile');
  let files: Record<string, Uint8Array>;
  try {
    files = await generateGuestTypes(wit, { worldName: world });
  } catch (e) {
    throw new ComponentBuildError(wit, `cannot generate types for ${world} from ${wit}: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
  }
  const decoder = new TextDecoder();
  return Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, decoder.decode(bytes)]));
}
