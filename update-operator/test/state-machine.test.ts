import { describe, expect, it } from 'vitest';
import { resolvePolicy, type NodeUpdate, type NodeUpdateStatus } from '../src/model/api.js';
import { admit, specFor, step, type NodeFacts } from '../src/controller/state-machine.js';

const t0 = new Date('2026-03-10T12:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const policy = resolvePolicy({ healthGate: { soakSeconds: 30 }, deadlines: { stageSeconds: 100, rebootSeconds: 200, verifySeconds: 300 } });
const healthy: NodeFacts = { ready: true, readySince: t0, notReadyDaemonSetPods: [], drain: undefined };

function nu(status: NodeUpdateStatus, generation = 3): NodeUpdate {
  return {
    apiVersion: 'updates.updog.dev/v1alpha1',
    kind: 'NodeUpdate',
    metadata: { name: 'n1', generation },
    spec: { desiredState: 'Staged', targetVersion: '1.1.0' },
    status: { stateSince: t0.toISOString(), targetVersion: '1.1.0', currentVersion: '1.0.0', ...status },
  };
}

describe('specFor', () => {
  it('derives the agent request from the state', () => {
    for (const state of ['Staging', 'Staged', 'Draining'] as const) expect(specFor(state, '1.1.0')).toEqual({ desiredState: 'Staged', targetVersion: '1.1.0' });
    for (const state of ['Rebooting', 'Verifying'] as const) expect(specFor(state, '1.1.0')).toEqual({ desiredState: 'Rebooted', targetVersion: '1.1.0' });
    for (const state of ['Idle', 'Failed'] as const) expect(specFor(state, '1.1.0')).toEqual({ desiredState: 'Idle' });
    expect(specFor('Staging', undefined)).toEqual({ desiredState: 'Idle' });
  });
});

describe('admit', () => {
  it('asks the agent to stage the target and enters Staging', () => {
    const s = admit(nu({ state: 'Idle' }), '1.1.0', t0);
    expect(s.status).toEqual({ state: 'Staging', stateSince: t0.toISOString(), targetVersion: '1.1.0' });
    expect(s.effects).toEqual([]);
  });
});

describe('step', () => {
  it('leaves Idle and Failed nodes alone', () => {
    expect(step(nu({ state: 'Idle' }), healthy, policy, at(1))).toEqual({ effects: ['uncordon'] });
    expect(step(nu({ state: 'Failed' }), healthy, policy, at(1))).toEqual({ effects: ['uncordon'] });
  });

  it('Staging -> Staged once the agent has staged the target for this generation', () => {
    expect(step(nu({ state: 'Staging', observedGeneration: 2, stagedVersion: '1.1.0' }), healthy, policy, at(5))).toEqual({ effects: [] });
    const s = step(nu({ state: 'Staging', observedGeneration: 3, stagedVersion: '1.1.0' }), healthy, policy, at(5));
    expect(s.status).toEqual({ state: 'Staged', stateSince: at(5).toISOString() });
  });

  it('Staging fails on an agent failure of this generation only, or at the deadline', () => {
    const failure = { reason: 'PrepareFailed', message: 'hash mismatch', time: t0.toISOString(), version: '1.1.0' };
    expect(step(nu({ state: 'Staging', agentFailure: { ...failure, generation: 2 } }), healthy, policy, at(5))).toEqual({ effects: [] });
    const f = step(nu({ state: 'Staging', agentFailure: { ...failure, generation: 3 } }), healthy, policy, at(5));
    expect(f.status).toMatchObject({ state: 'Failed', attempts: 1, lastFailure: { reason: 'PrepareFailed', message: 'staging 1.1.0: hash mismatch', version: '1.1.0' } });
    expect(f.status?.nextAttemptAt).toBe(at(5 + 120).toISOString());
    expect(f.effects).toEqual(['uncordon']);
    expect(step(nu({ state: 'Staging' }), healthy, policy, at(100)).status).toBeUndefined();
    expect(step(nu({ state: 'Staging' }), healthy, policy, at(101)).status).toMatchObject({ state: 'Failed', lastFailure: { reason: 'StageTimeout' } });
  });

  it('Staged -> Draining cordons and starts the drain', () => {
    const s = step(nu({ state: 'Staged' }), healthy, policy, at(1));
    expect(s.status?.state).toBe('Draining');
    expect(s.effects).toEqual(['cordon', 'drain']);
  });

  it('Draining keeps its drain running, then asks for the reboot', () => {
    expect(step(nu({ state: 'Draining' }), healthy, policy, at(1))).toEqual({ effects: ['cordon', 'drain'] });
    const s = step(nu({ state: 'Draining' }), { ...healthy, drain: { ok: true } }, policy, at(2));
    expect(s.status?.state).toBe('Rebooting');
    expect(s.effects).toEqual(['cordon']);
  });

  it('a drain held by a pod sends the node back to Idle, uncordoned, with the hold as a condition (no failure, no attempt)', () => {
    const hold = 'pod jobs/batch annotated karpenter.sh/do-not-disrupt="true"';
    const other = { type: 'Other', status: 'True' as const, reason: 'X', message: 'y', lastTransitionTime: t0.toISOString() };
    const s = step(nu({ state: 'Draining', attempts: 1, conditions: [other] }), { ...healthy, drain: { ok: false, hold } }, policy, at(2));
    expect(s).toEqual({
      status: { state: 'Idle', stateSince: at(2).toISOString(), conditions: [other, { type: 'DisruptionHold', status: 'True', reason: 'PodDoNotDisrupt', message: `skipped: ${hold}`, lastTransitionTime: at(2).toISOString() }] },
      effects: ['uncordon'],
      event: { type: 'Warning', reason: 'DisruptionHold', message: `drain stopped before evicting anything; skipped until the annotation is removed: ${hold}` },
    });
    expect(specFor('Idle', '1.1.0')).toEqual({ desiredState: 'Idle' });
  });

  it('a blocked drain fails the node with the reason naming the PDB, a condition, and an uncordon', () => {
    const drain = {
      ok: false as const, reason: 'DrainBlocked', message: 'pod default/web-1 not evicted by PodDisruptionBudget web-pdb',
      condition: { type: 'DrainBlocked', status: 'True' as const, reason: 'PodDisruptionBudget', message: 'pod default/web-1 not evicted by PodDisruptionBudget web-pdb' },
    };
    const s = step(nu({ state: 'Draining', attempts: 2 }), { ...healthy, drain }, policy, at(2));
    expect(s.effects).toEqual(['uncordon']);
    expect(s.status).toMatchObject({ state: 'Failed', attempts: 3, lastFailure: { reason: 'DrainBlocked', message: drain.message } });
    expect(s.status?.nextAttemptAt).toBe(at(2 + 8 * 60).toISOString());
    expect(s.status?.conditions).toEqual([{ ...drain.condition, lastTransitionTime: at(2).toISOString() }]);
  });

  it('Rebooting -> Verifying when Ready on the target; fails at the deadline or on rollback', () => {
    expect(step(nu({ state: 'Rebooting' }), { ...healthy, ready: false }, policy, at(10)).status).toBeUndefined();
    expect(step(nu({ state: 'Rebooting', currentVersion: '1.1.0' }), { ...healthy, ready: false }, policy, at(10)).status).toBeUndefined();
    expect(step(nu({ state: 'Rebooting', currentVersion: '1.1.0' }), healthy, policy, at(10)).status?.state).toBe('Verifying');
    expect(step(nu({ state: 'Rebooting' }), healthy, policy, at(201)).status).toMatchObject({ state: 'Failed', lastFailure: { reason: 'RebootTimeout' } });
    const rolledBack = step(
      nu({ state: 'Rebooting', agentFailure: { reason: 'RolledBack', message: 'booted 1.0.0', time: t0.toISOString(), generation: 3 } }),
      healthy, policy, at(20),
    );
    expect(rolledBack.status).toMatchObject({ state: 'Failed', lastFailure: { reason: 'RolledBack', version: '1.1.0' }, nextAttemptAt: null });
  });

  it('Verifying passes after the soak with the agent confirmation and DaemonSet pods Ready, then uncordons', () => {
    const v = nu({ state: 'Verifying', currentVersion: '1.1.0', observedGeneration: 3, attempts: 1 });
    expect(step(v, healthy, policy, at(29)).status).toBeUndefined();
    expect(step(v, { ...healthy, notReadyDaemonSetPods: ['kube-system/agent-x'] }, policy, at(31)).status).toBeUndefined();
    expect(step({ ...v, status: { ...v.status, observedGeneration: 2 } }, healthy, policy, at(31)).status).toBeUndefined();
    // Ready again only 10 s ago: the soak restarts from there
    expect(step(v, { ...healthy, readySince: at(21) }, policy, at(31)).status).toBeUndefined();
    expect(step(v, healthy, policy, at(29)).effects).toEqual(['cordon']);
    const done = step(v, healthy, policy, at(30));
    expect(done.status).toEqual({ state: 'Idle', stateSince: at(30).toISOString(), attempts: 0, lastFailure: null, nextAttemptAt: null, conditions: null });
    expect(done.effects).toEqual(['uncordon']);
  });

  it('Verifying fails at its deadline naming what was missing', () => {
    const v = nu({ state: 'Verifying', currentVersion: '1.1.0', observedGeneration: 3 });
    const s = step(v, { ...healthy, notReadyDaemonSetPods: ['kube-system/agent-x'] }, policy, at(301));
    expect(s.status?.lastFailure).toMatchObject({ reason: 'HealthGateFailed', message: 'health gate not passed within 300s: DaemonSet pods not Ready: kube-system/agent-x' });
  });

  it('a requirement the soak does not check can be switched off', () => {
    const lax = resolvePolicy({ healthGate: { soakSeconds: 0, requireDaemonSetPodsReady: false } });
    const v = nu({ state: 'Verifying', currentVersion: '1.1.0', observedGeneration: 3 });
    expect(step(v, { ...healthy, notReadyDaemonSetPods: ['x'] }, lax, at(0)).status?.state).toBe('Idle');
  });
});
