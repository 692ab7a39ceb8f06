// Apart from locale.ts (zod schemas) so that the tenancy model, which every sandbox worker
// loads, needs no zod: a worker's start stays a few dozen modules, not a hundred more.

/** The time zone and language a tenant's components are told when its config names none. */
export const DEFAULT_TIMEZONE = 'UTC';
export const DEFAULT_LANGUAGE = 'en';
