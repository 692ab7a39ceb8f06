import type { BuildTarget } from './builder.js';

/**
 * The messages between a CLI command and the build process it starts (builder-process.ts),
 * over the child's IPC channel. One request in; progress lines, then exactly one result out.
 */
export type BuildRequest =
  /** Build `target` and write the component bytes to `out`; with `cacheDir`, an unchanged build comes from the build cache there. */
  | { readonly kind: 'component'; readonly target: BuildTarget; readonly out: string; readonly cacheDir?: string }
  /** Generate guest type declarations for `world` from `wit`. */
  | { readonly kind: 'guest-types'; readonly wit: string; readonly world: string };

export type BuildReply =
  | { readonly kind: 'progress'; readonly line: string }
  /** `imports`: what the source imports, per module specifier ('*': a namespace import). */
  | {
      readonly kind: 'built';
      readonly out: string;
      readonly size: number;
      readonly digest: string;
      readonly imports: ReadonlyArray<readonly [string, readonly string[] | '*']>;
    }
  | { readonly kind: 'guest-types'; readonly files: Readonly<Record<string, string>> }
  /** A failure the author can act on: one message naming the file, never a stack. */
  | { readonly kind: 'failed'; readonly message: string };
