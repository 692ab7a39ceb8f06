import { z } from 'zod';

/**
 * A `.ygtc` flow as Greentic's real files write it (greentic-flow's schema): `nodes` is a map
 * keyed by node id, each node one operation key with its payload, plus `routing`. Strict at the
 * top: a key nobody reads is an error.
 */

const text = z.string().max(65_536);

/** `out`, `[{to: X}]` or `[{next: X}]`, `[{out: true}]`. */
export const RoutingSchema = z.union([
  z.literal('out'),
  z
    .array(
      z.union([
        z.strictObject({ to: z.string().min(1).max(200) }),
        z.strictObject({ next: z.string().min(1).max(200) }),
        z.strictObject({ out: z.literal(true) }),
      ]),
    )
    .max(1),
]);

export const YgtcFlowSchema = z.strictObject({
  id: z.string().min(1).max(200),
  title: z.string().max(1000).optional(),
  description: z.string().max(10_000).optional(),
  type: z.string().min(1).max(100),
  schema_version: z.union([z.literal(1), z.literal(2)]).optional(),
  start: z.string().min(1).max(200).optional(),
  parameters: z.record(z.string().max(200), z.unknown()).optional(),
  entrypoints: z.record(z.string().max(200), z.string().min(1).max(200)).optional(),
  tags: z.array(z.string().max(200)).max(1000).optional(),
  nodes: z.record(z.string().max(200), z.record(z.string().max(200), z.unknown())).refine((n) => Object.keys(n).length > 0, 'a flow has at least one node'),
});
export type YgtcFlow = z.infer<typeof YgtcFlowSchema>;

export const TemplatingSchema = z.strictObject({ text });
export const EmitResponseSchema = z.strictObject({ text });
export const QaProcessSchema = z.strictObject({
  welcome: text.optional(),
  questions: z
    .array(
      z.strictObject({
        id: z.string().min(1).max(63),
        prompt: text,
        answer_type: z.literal('text', { message: 'only text answers are taken here' }).optional(),
        max_words: z.number().int().positive().optional(),
      }),
    )
    .max(100)
    .optional(),
});
export const ComponentExecSchema = z.looseObject({
  component: z.string().min(1).max(200),
  operation: z.string().min(1).max(200).optional(),
  input: z.unknown().optional(),
});

/** The operations a node may carry, and what each becomes. */
export const YGTC_OPERATIONS = ['component.exec', 'templating.handlebars', 'emit.response', 'qa.process'] as const;
