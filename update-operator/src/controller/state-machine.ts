/**
 * One node's rollout as a pure step function: from the NodeUpdate, what the controller sees of the
 * Node and the drain, the policy and the clock, decide the next spec/status and side effects.
 * The protocol is described in ../model/README.md.
 */
import type { Condition, Failure, NodeState, NodeUpdate, NodeUpdateSpec, NodeUpdateStatus, NodeUpdateStatusPatch, ResolvedPolicy } from '../model/api.js';
import { AGENT_FAILURE_REASONS, CONDITION_DISRUPTION_HOLD } from '../model/api.js';
import { backoffMs } from './backoff.js';

/** Side effects on the Node the I/O layer carries out (all idempotent). */
export type Effect = 'cordon' | 'uncordon' | 'drain';

/** How an eviction run ended: the node is empty, or it gave up (reason, message, condition). */
export type DrainVerdict = { ok: true } | { ok: false; reason: string; message: string; condition?: Omit<Condition, 'lastTransitionTime'> };

/**
 * Outcome of a finished drain of this node; `hold`: it stopped before evicting anything because a
 * pod asks not to be disrupted (the node goes back to Idle, not Failed).
 */
export type DrainResult = DrainVerdict | { ok: false; hold: string };

/** Reason of the DisruptionHold condition a pod's do-not-disrupt annotation puts on a NodeUpdate. */
export const POD_HOLD_REASON = 'PodDoNotDisrupt';

/** The DisruptionHold condition a pod put on this NodeUpdate (holdBack), if it carries one. */
export function podHoldCondition(nu: NodeUpdate): Condition | undefined {
  return nu.status?.conditions?.find((c) => c.type === CONDITION_DISRUPTION_HOLD && c.reason === POD_HOLD_REASON);
}

export interface NodeFacts {
  /** Node Ready condition is True. */
  ready: boolean;
  /** When the Ready condition last became True. */
  readySince: Date | undefined;
  /** Every DaemonSet pod on the node is Ready (names of those that are not). */
  notReadyDaemonSetPods: string[];
  /** Set once the drain task for the current Draining phase has finished. */
  drain: DrainResult | undefined;
}


export interface Step {
  status?: NodeUpdateStatusPatch;
  effects: Effect[];
  /** Short text for an Event and the log when the state changes. */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

const NOTHING: Step = { effects: [] };
/** While the node is out of service its cordon is re-asserted (idempotent), e.g. after a takeover. */
const STAY_CORDONED: Step = { effects: ['cordon'] };

function elapsedSeconds(since: string | undefined, now: Date): number {
  return since === undefined ? 0 : (now.getTime() - Date.parse(since)) / 1000;
}

function upsertCondition(conditions: Condition[] | undefined, c: Condition): Condition[] {
  const others = (conditions ?? []).filter((x) => x.type !== c.type);
  return [...others, c];
}

/**
 * The spec each state implies. The I/O layer makes the object's spec match after every step, so
 * the spec is never out of step with the state even if the controller dies between two writes.
 */
export function specFor(state: NodeState, target: string | undefined): NodeUpdateSpec {
  if (target !== undefined && (state === 'Staging' || state === 'Staged' || state === 'Draining')) return { desiredState: 'Staged', targetVersion: target };
  if (target !== undefined && (state === 'Rebooting' || state === 'Verifying')) return { desiredState: 'Rebooted', targetVersion: target };
  return { desiredState: 'Idle' };
}

/** Moves a node into the rollout (called by the scheduler's admission). */
export function admit(nu: NodeUpdate, target: string, now: Date): Step {
  return {
    status: { state: 'Staging', stateSince: now.toISOString(), targetVersion: target },
    effects: [],
    event: { type: 'Normal', reason: 'Staging', message: `staging ${target} (running ${nu.status?.currentVersion ?? 'unknown'})` },
  };
}

/** Marks the node Failed: slot freed, spec back to Idle, backoff armed, node uncordoned. */
export function fail(nu: NodeUpdate, failure: Omit<Failure, 'time' | 'version'>, now: Date, extraCondition?: Omit<Condition, 'lastTransitionTime'>): Step {
  const status = nu.status ?? {};
  const attempts = (status.attempts ?? 0) + 1;
  const version = status.targetVersion;
  const lastFailure: Failure = { ...failure, time: now.toISOString(), ...(version ? { version } : {}) };
  const retriable = failure.reason !== AGENT_FAILURE_REASONS.RolledBack;
  let conditions = status.conditions;
  if (extraCondition) conditions = upsertCondition(conditions, { ...extraCondition, lastTransitionTime: now.toISOString() });
  return {
    status: {
      state: 'Failed',
      stateSince: now.toISOString(),
      attempts,
      lastFailure,
      nextAttemptAt: retriable ? new Date(now.getTime() + backoffMs(attempts)).toISOString() : null,
      ...(conditions ? { conditions } : {}),
    },
    effects: ['uncordon'],
    event: { type: 'Warning', reason: failure.reason, message: failure.message },
  };
}

/** A pod asked not to be disrupted: back to Idle (no failure, no attempt counted), uncordoned, with the hold in a condition. */
function holdBack(nu: NodeUpdate, hold: string, now: Date): Step {
  const condition: Condition = { type: CONDITION_DISRUPTION_HOLD, status: 'True', reason: POD_HOLD_REASON, message: `skipped: ${hold}`, lastTransitionTime: now.toISOString() };
  return {
    status: { state: 'Idle', stateSince: now.toISOString(), conditions: upsertCondition(nu.status?.conditions, condition) },
    effects: ['uncordon'],
    event: { type: 'Warning', reason: 'DisruptionHold', message: `drain stopped before evicting anything; skipped until the annotation is removed: ${hold}` },
  };
}

function transition(to: NonNullable<NodeUpdateStatus['state']>, now: Date, rest: Omit<Step, 'status'> & { status?: NodeUpdateStatusPatch }, message: string): Step {
  return { ...rest, status: { ...rest.status, state: to, stateSince: now.toISOString() }, event: { type: 'Normal', reason: to, message } };
}

/** The agent's failure for the current spec generation, if any. */
function agentFailureNow(nu: NodeUpdate) {
  const f = nu.status?.agentFailure;
  return f !== undefined && f.generation === nu.metadata.generation ? f : undefined;
}

/** Advances an in-flight node by at most one state. Idle and Failed nodes move only by `admit`. */
export function step(nu: NodeUpdate, facts: NodeFacts, policy: ResolvedPolicy, now: Date): Step {
  const s = nu.status ?? {};
  const target = s.targetVersion;
  const age = elapsedSeconds(s.stateSince, now);
  const agentFailure = agentFailureNow(nu);
  switch (s.state ?? 'Idle') {
    case 'Idle':
    case 'Failed':
      // undo our cordon if a previous leader died between the state change and the uncordon
      return { effects: ['uncordon'] };
    case 'Staging':
      if (agentFailure) return fail(nu, { reason: agentFailure.reason, message: `staging ${target}: ${agentFailure.message}` }, now);
      if (s.observedGeneration === nu.metadata.generation && s.stagedVersion === target) {
        return transition('Staged', now, { effects: [] }, `${target} written to the inactive partitions`);
      }
      if (age > policy.deadlines.stageSeconds) {
        return fail(nu, { reason: 'StageTimeout', message: `the agent did not stage ${target} within ${policy.deadlines.stageSeconds}s (host state ${s.hostState ?? 'unknown'}); check the agent's logs` }, now);
      }
      return NOTHING;
    case 'Staged':
      return transition('Draining', now, { effects: ['cordon', 'drain'] }, 'cordoned; draining');
    case 'Draining':
      if (facts.drain === undefined) return { effects: ['cordon', 'drain'] };
      if (!facts.drain.ok && 'hold' in facts.drain) return holdBack(nu, facts.drain.hold, now);
      if (!facts.drain.ok) return fail(nu, { reason: facts.drain.reason, message: facts.drain.message }, now, facts.drain.condition);
      return transition('Rebooting', now, { effects: ['cordon'] }, `drained; rebooting into ${target}`);
    case 'Rebooting':
      if (agentFailure) return fail(nu, { reason: agentFailure.reason, message: agentFailure.message }, now);
      if (facts.ready && s.currentVersion === target) return transition('Verifying', now, { effects: [] }, `back on ${target}; health gate`);
      if (age > policy.deadlines.rebootSeconds) {
        return fail(nu, { reason: 'RebootTimeout', message: `node not Ready on ${target} within ${policy.deadlines.rebootSeconds}s (Ready=${facts.ready}, running ${s.currentVersion ?? 'unknown'})` }, now);
      }
      return STAY_CORDONED;
    case 'Verifying':
      return verify(nu, facts, policy, now);
  }
}

function verify(nu: NodeUpdate, facts: NodeFacts, policy: ResolvedPolicy, now: Date): Step {
  const s = nu.status ?? {};
  const target = s.targetVersion;
  const agentFailure = agentFailureNow(nu);
  if (agentFailure) return fail(nu, { reason: agentFailure.reason, message: agentFailure.message }, now);
  if (s.currentVersion !== target) {
    return fail(nu, { reason: AGENT_FAILURE_REASONS.RolledBack, message: `node runs ${s.currentVersion ?? 'unknown'} instead of ${target}` }, now);
  }
  const waits: string[] = [];
  if (!facts.ready) waits.push('node not Ready');
  if (s.observedGeneration !== nu.metadata.generation) waits.push('agent has not confirmed the boot');
  if (policy.healthGate.requireDaemonSetPodsReady && facts.notReadyDaemonSetPods.length > 0) waits.push(`DaemonSet pods not Ready: ${facts.notReadyDaemonSetPods.join(', ')}`);
  // the soak counts from the later of entering Verifying and the node's last transition to Ready
  const soakStart = Math.max(Date.parse(s.stateSince ?? now.toISOString()), facts.readySince?.getTime() ?? now.getTime());
  if ((now.getTime() - soakStart) / 1000 < policy.healthGate.soakSeconds) waits.push('soaking');
  if (waits.length === 0) {
    return {
      status: { state: 'Idle', stateSince: now.toISOString(), attempts: 0, lastFailure: null, nextAttemptAt: null, conditions: null },
      effects: ['uncordon'],
      event: { type: 'Normal', reason: 'Updated', message: `running ${target}; health gate passed` },
    };
  }
  if (elapsedSeconds(s.stateSince, now) > policy.deadlines.verifySeconds) {
    return fail(nu, { reason: 'HealthGateFailed', message: `health gate not passed within ${policy.deadlines.verifySeconds}s: ${waits.join('; ')}` }, now);
  }
  return STAY_CORDONED;
}
