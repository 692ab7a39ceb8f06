import { z } from 'zod';
import { channelProvider, PROVIDER_NAMES } from '../../messaging/providers/channel-providers.js';
import { ApiSchema, ComponentSourceSchema, GrantsSchema, idSchema, PacksSchema, SettingsSchema } from './schema.js';

/**
 * The three configuration forms, as the spec writes them and as earlier versions did, strict:
 * - tenant form: tenants/<tenant>/tenant.yaml (`tenant: {id, name, settings}` or `tenant: id`)
 * - team form: tenants/<tenant>/teams/<team>.yaml (`team: {id, name, tenant_id}` or `team: id`)
 * - bundle form: bundle.yaml with tenants > teams > channels inline
 * Each parses to one shape (environments a map, providers by their short name), so the loader
 * can merge the forms that describe one tenant.
 */

/** One environment: a display name, and settings layered over the tenant's. */
export const EnvironmentSchema = z.strictObject({
  name: z.string().min(1).optional(),
  settings: SettingsSchema.refine((s) => s.isolation === undefined, {
    message: "isolation is a tenant-level setting: set it in the tenant's settings, not an environment's",
    path: ['isolation'],
  }).optional(),
});
export type EnvironmentBody = z.infer<typeof EnvironmentSchema>;

const EnvironmentEntrySchema = z.strictObject({ id: idSchema('env'), ...EnvironmentSchema.shape });

/** `environments`: the spec's list of `{id, name}`, or a map keyed by id; a map either way once parsed. */
export const EnvironmentsSchema = z.union([z.record(idSchema('env'), EnvironmentSchema.nullable()), z.array(EnvironmentEntrySchema)]).transform((envs, ctx) => {
  const out: Record<string, EnvironmentBody> = Object.create(null) as Record<string, EnvironmentBody>;
  if (!Array.isArray(envs)) {
    for (const [id, env] of Object.entries(envs)) out[id] = env ?? {};
    return out;
  }
  envs.forEach(({ id, ...env }, i) => {
    if (Object.hasOwn(out, id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `environment "${id}" is listed twice` });
    else out[id] = env;
  });
  return out;
});

/**
 * A channel: a messaging-provider instance. `provider` is the spec's name ("messaging-slack") or
 * the short one ("slack"); `config` is checked by that provider's own schema
 * (host/messaging/providers/<provider>.ts). Without `flow`, the loader picks the team's flow.
 */
export const ChannelSchema = z
  .strictObject({
    provider: z.string(),
    /** The flow of this tenant that answers messages on this channel. */
    flow: idSchema('flow').optional(),
    /** Page title of a webchat channel (also `config.title`). */
    title: z.string().min(1).max(200).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
  })
  .transform((ch, ctx) => {
    const spec = channelProvider(ch.provider);
    if (!spec) {
      const names = PROVIDER_NAMES.map((n) => JSON.stringify(n)).join('|');
      ctx.addIssue({ code: 'custom', path: ['provider'], message: `unknown provider ${JSON.stringify(ch.provider.slice(0, 80))}; expected one of ${names}` });
      return z.NEVER;
    }
    const config = spec.configSchema.safeParse(ch.config ?? {});
    if (!config.success) {
      for (const issue of config.error.issues) ctx.addIssue({ ...issue, path: ['config', ...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
      return z.NEVER;
    }
    const configTitle = config.data.title as string | undefined;
    if (ch.title !== undefined && spec.name !== 'webchat') {
      ctx.addIssue({ code: 'custom', path: ['title'], message: `only a webchat channel has a title (this one is ${spec.specName})` });
      return z.NEVER;
    }
    if (ch.title !== undefined && configTitle !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['title'], message: 'the title is given twice (title and config.title); give it once' });
      return z.NEVER;
    }
    // Only the keys the file gives (as parsed): a provider's defaults are applied where the config is used, so two
    // forms that say the same of a channel do not disagree over a default one of them did not write.
    const given = Object.fromEntries(Object.entries(config.data).filter(([k]) => Object.hasOwn(ch.config ?? {}, k)));
    return { provider: spec.name, flow: ch.flow, title: ch.title ?? configTitle, config: given };
  });
export type ChannelBody = z.infer<typeof ChannelSchema>;

const teamFields = {
  name: z.string().min(1).optional(),
  /** Environments the team exists in; all of the tenant's when omitted. */
  environments: z.array(idSchema('env')).min(1).optional(),
  channels: z.record(idSchema('channel'), ChannelSchema),
};

/** A team inline under a tenant (tenant.yaml's or bundle.yaml's `teams`). */
export const InlineTeamSchema = z.strictObject(teamFields);
export type TeamBody = z.infer<typeof InlineTeamSchema>;

/** Team form: tenants/<tenant>/teams/<team>.yaml; `team` is the spec's record or, as before, just the id. */
export const TeamFileSchema = z.strictObject({
  team: z.union([idSchema('team'), z.strictObject({ id: idSchema('team'), name: z.string().min(1).optional(), tenant_id: idSchema('tenant').optional() })]),
  ...teamFields,
});
export type TeamFile = z.infer<typeof TeamFileSchema>;

const tenantFields = {
  name: z.string().min(1).optional(),
  /** The tenant's environments; `prod` alone when omitted. */
  environments: EnvironmentsSchema.optional(),
  settings: SettingsSchema.optional(),
  grants: GrantsSchema.optional(),
  /** The tenant's own components found elsewhere than tenants/<tenant>/components/<name>/. */
  components: z.record(idSchema('component'), ComponentSourceSchema).optional(),
  /** Greentic packs (.gtpack) the tenant deploys, besides those in tenants/<tenant>/packs/. */
  packs: PacksSchema.optional(),
  /** REST API keys; a tenant without them has no API access. */
  api: ApiSchema.optional(),
  teams: z.record(idSchema('team'), InlineTeamSchema).optional(),
};

/** A tenant inline in bundle.yaml (the bundle form), and the shape every form is merged into. */
export const InlineTenantSchema = z.strictObject(tenantFields);
export type TenantBody = z.infer<typeof InlineTenantSchema>;

/** Tenant form: tenants/<tenant>/tenant.yaml; `tenant` is the spec's record or, as before, just the id. */
export const TenantFileSchema = z.strictObject({
  tenant: z.union([idSchema('tenant'), z.strictObject({ id: idSchema('tenant'), name: z.string().min(1).optional(), settings: SettingsSchema.optional() })]),
  ...tenantFields,
});
export type TenantFile = z.infer<typeof TenantFileSchema>;

/** Bundle form: bundle.yaml at the root of a bundle directory (optional when the bundle has tenants/). */
export const BundleFileSchema = z.strictObject({
  /** The workspace's name; the bundle folder's name when omitted. */
  workspace: idSchema('workspace').optional(),
  /**
   * A folder of components the operator shares (relative to the bundle root): a tenant's
   * `components.<name>.path` may point into it as well as into the tenant's own folder.
   */
  shared_components: z.string().min(1).optional(),
  /** Tenants defined inline; others come from tenants/<id>/tenant.yaml. */
  tenants: z.record(idSchema('tenant'), InlineTenantSchema).optional(),
});

/** The id a tenant file's header names, and what its spec record holds besides it. */
export function tenantHeader(file: TenantFile): { id: string; record: Pick<TenantBody, 'name' | 'settings'> | undefined } {
  if (typeof file.tenant === 'string') return { id: file.tenant, record: undefined };
  const { id, ...record } = file.tenant;
  return { id, record };
}

/** The id a team file's header names, the tenant it says it belongs to, and its record's name. */
export function teamHeader(file: TeamFile): { id: string; tenantId: string | undefined; record: Pick<TeamBody, 'name'> | undefined } {
  if (typeof file.team === 'string') return { id: file.team, tenantId: undefined, record: undefined };
  const { id, tenant_id: tenantId, ...record } = file.team;
  return { id, tenantId, record };
}
