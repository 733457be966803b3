/**
 * Which nodes may start updating now: budget (maxUnavailable), maintenance windows, failure
 * budget, pause switch and ordering. Pure: the caller supplies the world and the clock.
 */
import { Cron } from 'croner';
import type { MaintenanceWindow, NodeState, NodeUpdateStatus, ResolvedPolicy, UpdatePolicyStatus } from '../model/api.js';
import { AGENT_FAILURE_REASONS } from '../model/api.js';

/** States in which a node holds one slot of the budget. */
export const IN_FLIGHT_STATES: ReadonlySet<NodeState> = new Set(['Staging', 'Staged', 'Draining', 'Rebooting', 'Verifying']);

export class PolicyError extends Error {}

/** maxUnavailable as a node count: numbers as given, `"N%"` of the selected nodes rounded down; at least 1. */
export function resolveMaxUnavailable(value: number | string, selectedNodes: number): number {
  if (typeof value === 'number') return Math.max(1, Math.floor(value));
  const m = /^(\d+)%$/.exec(value.trim());
  if (m) return Math.max(1, Math.floor((Number(m[1]) * selectedNodes) / 100));
  if (/^\d+$/.test(value.trim())) return Math.max(1, Number(value));
  throw new PolicyError(`maxUnavailable "${value}" is neither a number nor a percentage like "20%"`);
}

/**
 * Is `now` inside any window? No windows means always. A window is [start, start + duration).
 * Every window is checked, so an invalid one is reported even while another is open.
 */
export function inMaintenanceWindow(windows: readonly MaintenanceWindow[], now: Date): boolean {
  if (windows.length === 0) return true;
  return windows.map((w) => isOpen(w, now)).some(Boolean);
}

function isOpen(w: MaintenanceWindow, now: Date): boolean {
  const zone = w.timeZone ?? 'UTC';
  let start: Date | null;
  try {
    // croner would read an empty zone as the process's local time
    if (zone === '') throw new Error('the time zone is empty (leave it out for UTC)');
    // the first start after (now - duration) is <= now exactly when a window is open now;
    // croner checks the time zone only here, not in the constructor
    start = new Cron(w.schedule, { timezone: zone, paused: true }).nextRun(new Date(now.getTime() - w.durationSeconds * 1000));
  } catch (err) {
    throw new PolicyError(`maintenance window schedule "${w.schedule}" (${zone}) is invalid: ${(err as Error).message}`);
  }
  return start !== null && start.getTime() <= now.getTime();
}

/** A node as the scheduler sees it. */
export interface Candidate {
  name: string;
  status: NodeUpdateStatus;
  /** Version this node should move to (policy pin or the agent's availableVersion). */
  target: string | undefined;
  /** An autoscaler hold keeps the node back (e.g. `node annotated karpenter.sh/do-not-disrupt="true"`). */
  hold?: string | undefined;
}

function failureCounts(status: NodeUpdateStatus, resetAt: string | undefined): boolean {
  if (status.state !== 'Failed') return false;
  if (resetAt === undefined || status.lastFailure === undefined) return true;
  return Date.parse(status.lastFailure.time) >= Date.parse(resetAt);
}

/** Why a node is not eligible to start now, or null if it is. */
export function ineligibility(c: Candidate, policy: ResolvedPolicy, now: Date): string | null {
  const s = c.status;
  const state = s.state ?? 'Idle';
  if (state !== 'Idle' && state !== 'Failed') return 'already updating';
  if (s.currentVersion === undefined) return 'no agent report yet';
  if (c.target === undefined || c.target === s.currentVersion) return 'up to date';
  if (c.hold !== undefined) return c.hold;
  if (state === 'Failed') {
    const f = s.lastFailure;
    const forgiven = !failureCounts(s, policy.failureBudget.resetAt);
    if (f?.reason === AGENT_FAILURE_REASONS.RolledBack && f.version === c.target && !forgiven) {
      return `rolled back from ${c.target}: not retried until the failure budget is reset`;
    }
    if (!forgiven && s.nextAttemptAt !== undefined && Date.parse(s.nextAttemptAt) > now.getTime()) return `backing off until ${s.nextAttemptAt}`;
  }
  return null;
}

export interface Schedule {
  admit: Candidate[];
  status: Required<Pick<UpdatePolicyStatus, 'paused' | 'failures' | 'nodesUpdating' | 'maxUnavailable' | 'inMaintenanceWindow'>> & { pausedReason?: string };
}

/**
 * Picks the nodes to admit now. Order: nodes that never failed first, then by name, so a
 * rollout is predictable and a flapping node does not starve the others.
 */
export function schedule(nodes: readonly Candidate[], policy: ResolvedPolicy, now: Date): Schedule {
  const maxUnavailable = resolveMaxUnavailable(policy.maxUnavailable, nodes.length);
  const nodesUpdating = nodes.filter((n) => IN_FLIGHT_STATES.has(n.status.state ?? 'Idle')).length;
  const failures = nodes.filter((n) => failureCounts(n.status, policy.failureBudget.resetAt)).length;
  const inWindow = inMaintenanceWindow(policy.maintenanceWindows, now);
  let pausedReason: string | undefined;
  if (policy.paused) pausedReason = 'Paused';
  else if (failures >= policy.failureBudget.maxFailures) pausedReason = 'FailureBudgetExhausted';
  const status = { paused: pausedReason !== undefined, failures, nodesUpdating, maxUnavailable, inMaintenanceWindow: inWindow, ...(pausedReason ? { pausedReason } : {}) };
  if (pausedReason !== undefined || !inWindow) return { admit: [], status };
  const eligible = nodes
    .filter((n) => ineligibility(n, policy, now) === null)
    .sort((a, b) => Number(a.status.state === 'Failed') - Number(b.status.state === 'Failed') || a.name.localeCompare(b.name));
  return { admit: eligible.slice(0, Math.max(0, maxUnavailable - nodesUpdating)), status };
}
