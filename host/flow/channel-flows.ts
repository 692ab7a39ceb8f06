import { isValidId } from '../tenancy/ids.js';
import type { ChannelModel, TenantModel } from '../tenancy/model.js';

/** How a channel got its flow: named in its config, or by the default rule. */
export type ChannelFlowRule = 'named' | 'team-flow' | 'only-flow';

/** The flow a channel runs and why. */
export interface ChannelFlow {
  readonly flow: string;
  readonly rule: ChannelFlowRule;
}

/** How `validate` and the admin API say which rule gave a channel its flow. */
export const RULE_DESCRIPTIONS: Readonly<Record<ChannelFlowRule, string>> = Object.freeze({
  named: 'named by the channel',
  'team-flow': 'default: {tenant}_{team}_flow',
  'only-flow': "default: the tenant's only flow",
});

/** The flow a team's channels run when they name none: `{tenant}_{team}_flow` (if that is an id). */
export function teamFlowName(tenant: string, team: string): string | undefined {
  const name = `${tenant}_${team}_flow`;
  return isValidId(name) ? name : undefined;
}

/**
 * The flow a channel runs: the one it names; else `{tenant}_{team}_flow` if the tenant has a
 * flow file of that name; else the tenant's only flow file. `flowFiles` are the names of the
 * tenant's flow files, loaded or not, so that a broken default flow is reported as broken
 * rather than silently replaced by another. A string says why there is none.
 */
export function channelFlow(tenant: TenantModel, channel: ChannelModel, flowFiles: readonly string[]): ChannelFlow | string {
  if (channel.flow !== undefined) return { flow: channel.flow, rule: 'named' };
  const byTeam = teamFlowName(tenant.id, channel.team);
  if (byTeam !== undefined && flowFiles.includes(byTeam)) return { flow: byTeam, rule: 'team-flow' };
  if (flowFiles.length === 1) return { flow: flowFiles[0]!, rule: 'only-flow' };
  const expected = byTeam === undefined ? 'name one with flow:' : `name one with flow:, or add flows/${byTeam}.yaml`;
  return flowFiles.length === 0
    ? `channel ${channel.team}/${channel.id} has no flow: tenant "${tenant.id}" has no flows (${expected})`
    : `channel ${channel.team}/${channel.id} has no flow: ${expected} (tenant "${tenant.id}" has ${flowFiles.length}: ${flowFiles.join(', ')})`;
}
