/**
 * The agent's decisions, as pure functions of its NodeUpdate and its host's update API status
 * (protocol: ../model/README.md). The agent is level-triggered: after a restart, a reboot or a
 * lost update it recomputes the same step from the same two documents, so every step must be
 * safe to repeat.
 */
import type { StatusResponse } from '@updog-ts/updog/host-api';
import { AGENT_FAILURE_REASONS, type NodeUpdate, type NodeUpdateStatus } from '../model/api.js';

export type AgentFailureReason = keyof typeof AGENT_FAILURE_REASONS;

export type AgentStep =
  /** The spec generation is already handled. */
  | { kind: 'none' }
  /** The host is mid-command or mid-reboot: look again later. */
  | { kind: 'wait'; why: string }
  /** Nothing to do for this spec but to say it was seen. */
  | { kind: 'observe' }
  /** Idle spec on a host with an activated update (the update failed or was called off): undo activate. */
  | { kind: 'deactivate' }
  /** Write targetVersion to the inactive set (refresh first so the host knows it). */
  | { kind: 'prepare'; version: string }
  /** Make targetVersion next to boot (preparing it first if needed), record the reboot, reboot. */
  | { kind: 'reboot'; version: string; prepare: boolean; activate: boolean }
  /** The host runs targetVersion after our reboot: health check, then mark the boot successful. */
  | { kind: 'verify'; version: string; alreadyMarked: boolean }
  /** Unfulfillable: report this failure for the generation. */
  | { kind: 'fail'; reason: AgentFailureReason; message: string; version?: string };

/** The staged version, when the host has one written and valid (Staged, or Ready = next to boot). */
export function stagedVersion(host: StatusResponse): string | undefined {
  if (host.updateState !== 'Staged' && host.updateState !== 'Ready') return undefined;
  return host.stagingPartition?.image.version;
}

export function decideStep(nodeUpdate: NodeUpdate, host: StatusResponse): AgentStep {
  const generation = nodeUpdate.metadata.generation ?? 0;
  const status = nodeUpdate.status ?? {};
  if (status.observedGeneration === generation) return { kind: 'none' };
  if (host.commandInProgress) return { kind: 'wait', why: `host is running ${host.commandInProgress}` };

  const { desiredState, targetVersion } = nodeUpdate.spec;
  // The controller called the update off (it failed, e.g. the reboot never came): an activated
  // update left behind would boot at the host's next unrelated reboot, so undo it, even with a
  // reboot requested (it may never come; if it does, the old version boots as the controller now
  // expects). A staged update is harmless (never booted by itself) and may serve the next attempt.
  if (desiredState === 'Idle') return host.updateState === 'Ready' ? { kind: 'deactivate' } : { kind: 'observe' };
  if (host.rebootPending) return { kind: 'wait', why: 'host reboot requested and not done yet' };
  if (!targetVersion) {
    const reason = desiredState === 'Staged' ? 'PrepareFailed' : 'ActivateFailed';
    return { kind: 'fail', reason, message: `spec.desiredState is ${desiredState} but spec.targetVersion is empty` };
  }
  const running = host.running.version;
  const staged = stagedVersion(host);

  if (desiredState === 'Staged') {
    return staged === targetVersion ? { kind: 'observe' } : { kind: 'prepare', version: targetVersion };
  }

  // desiredState Rebooted
  if (status.rebootGeneration === generation) {
    if (running === targetVersion) return { kind: 'verify', version: targetVersion, alreadyMarked: host.activeBootSuccessful };
    // Still next to boot: the reboot was recorded but never reached the host (agent restarted).
    if (host.updateState === 'Ready' && staged === targetVersion) return { kind: 'reboot', version: targetVersion, prepare: false, activate: false };
    // A fallen-back set is no longer valid, so the host is not Ready: that is a rollback.
    return {
      kind: 'fail',
      reason: 'RolledBack',
      version: targetVersion,
      message: `host rebooted into ${running} instead of ${targetVersion}: the new image did not come up healthy and the host fell back to its previous partition set; not retried automatically`,
    };
  }
  if (running === targetVersion) return { kind: 'verify', version: targetVersion, alreadyMarked: host.activeBootSuccessful };
  const prepare = staged !== targetVersion;
  return { kind: 'reboot', version: targetVersion, prepare, activate: prepare || host.updateState !== 'Ready' };
}

/** A JSON merge patch of the status: null deletes a field. */
export type StatusPatch = { [K in keyof NodeUpdateStatus]?: NodeUpdateStatus[K] | null };

/** The agent-owned status fields that mirror the host (patched on every report). */
export function hostReport(host: StatusResponse, now: Date): StatusPatch {
  return {
    hostState: host.updateState,
    currentVersion: host.running.version,
    availableVersion: host.chosenUpdate?.version ?? null,
    stagedVersion: stagedVersion(host) ?? null,
    agentHeartbeat: rfc3339(now),
  };
}

/** Does the report say anything the status does not (the heartbeat time aside)? */
export function reportChanged(status: NodeUpdateStatus | undefined, report: StatusPatch): boolean {
  return Object.entries(report).some(([key, value]) => key !== 'agentHeartbeat' && (status?.[key as keyof NodeUpdateStatus] ?? null) !== value);
}

/** RFC 3339 without fractional seconds, like Kubernetes' own timestamps. */
export function rfc3339(time: Date): string {
  return time.toISOString().replace(/\.\d+Z$/, 'Z');
}
