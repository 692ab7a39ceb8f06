import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The installed package's root (dist/paths.js lives one level below it). */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** First-party component manifests and sources. */
export const BUILTIN_SOURCE_DIR = join(PACKAGE_ROOT, 'components');
/** What build.mjs produces: built components and fixtures. */
export const BUILD_DIR = join(PACKAGE_ROOT, 'build');
export const BUILTIN_BUILD_DIR = join(BUILD_DIR, 'components');
/** Transpiled glue, by transpiler version and component digest; shared by build.mjs and the host. */
export const DEFAULT_CACHE_DIR = join(PACKAGE_ROOT, '.cache', 'transpiled');
/** Built components by the hash of their inputs (build-cache.ts); shared by build.mjs and `component build`. */
export const BUILD_CACHE_DIR = join(PACKAGE_ROOT, '.cache', 'components');
/** The WIT contract components are built against (greentic:host). */
export const WIT_DIR = join(PACKAGE_ROOT, 'wit');
