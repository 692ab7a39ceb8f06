/**
 * A Greentic node's config without what the host reads itself: `op` (which op) and `input` (the
 * op's input mapping), so neither is part of what the component's config_schema checks.
 */
export function withoutHostKeys(config: unknown): unknown {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return config;
  const { op: _op, input: _input, ...rest } = config as Record<string, unknown>;
  return rest;
}
