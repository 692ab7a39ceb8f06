import { z } from 'zod';
import { idSchema } from '../tenancy/config/schema.js';

/** One route out of a node: taken when the component answers `route(when)`. */
export const RouteSchema = z.strictObject({
  when: z.string().min(1).max(100),
  to: idSchema('node'),
});

export const NodeSchema = z.strictObject({
  id: idSchema('node'),
  /** The component type: a built-in or one of the tenant's own, granted to the team. */
  type: idSchema('component'),
  /** Passed to the component as JSON; checked against its manifest's config_schema. */
  config: z.record(z.string(), z.unknown()).optional(),
  /** The node after this one; the flow run ends after this node when omitted. */
  next: idSchema('node').optional(),
  routes: z.array(RouteSchema).optional(),
});

/** The spec's flow format, plus `start` (default: the first node) and `next`/`routes` (none: the run ends). */
export const FlowSchema = z.strictObject({
  name: idSchema('flow'),
  version: z.union([z.string().min(1), z.number()]).transform(String),
  description: z.string().optional(),
  start: idSchema('node').optional(),
  /** Where a conversation starts when the user's previous session expired (settings.sessions); `start` when omitted. */
  on_expired: idSchema('node').optional(),
  nodes: z.array(NodeSchema).min(1),
});

export type FlowNodeConfig = z.infer<typeof NodeSchema>;
export type FlowConfig = z.infer<typeof FlowSchema>;
