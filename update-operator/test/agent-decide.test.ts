import { describe, expect, it } from 'vitest';
import { decideStep, hostReport } from '../src/agent/decide.js';
import type { StatusResponse, UpdateState } from '@updog-ts/updog/host-api';
import { API_VERSION, type NodeUpdate, type NodeUpdateSpec, type NodeUpdateStatus } from '../src/model/api.js';

const img = (version: string) => ({ variant: 'aws-k8s-1.31', arch: 'x86_64', version });

type HostOverrides = { state?: UpdateState; runningVersion?: string; staged?: string; chosen?: string } & Partial<Omit<StatusResponse, 'running'>>;

function host(over: HostOverrides = {}): StatusResponse {
  const { state = 'Idle', runningVersion: running = '1.0.0', staged, chosen, ...rest } = over;
  return {
    updateState: state,
    availableUpdates: chosen ? [chosen] : [],
    chosenUpdate: chosen ? img(chosen) : null,
    activePartition: { set: 'A', image: img(running), nextToBoot: state !== 'Ready' },
    stagingPartition: staged ? { set: 'B', image: img(staged), nextToBoot: state === 'Ready' } : null,
    mostRecentCommand: null,
    rebootRequestedInBoot: null,
    running: { set: 'A', version: running, bootId: 'b1' },
    rebootPending: false,
    activeBootSuccessful: true,
    commandInProgress: null,
    prepareProgress: null,
    ...rest,
  };
}

function nodeUpdate(spec: NodeUpdateSpec, generation: number, status: NodeUpdateStatus = {}): NodeUpdate {
  return { apiVersion: API_VERSION, kind: 'NodeUpdate', metadata: { name: 'node-1', generation }, spec, status };
}

describe('decideStep', () => {
  it('does nothing for a generation already handled', () => {
    expect(decideStep(nodeUpdate({ desiredState: 'Staged', targetVersion: '1.1.0' }, 3, { observedGeneration: 3 }), host())).toEqual({ kind: 'none' });
  });

  it('waits while the host runs a command or has a reboot pending', () => {
    const nu = nodeUpdate({ desiredState: 'Staged', targetVersion: '1.1.0' }, 2, { observedGeneration: 1 });
    expect(decideStep(nu, host({ commandInProgress: 'prepare' }))).toEqual({ kind: 'wait', why: 'host is running prepare' });
    expect(decideStep(nu, host({ rebootPending: true }))).toEqual({ kind: 'wait', why: 'host reboot requested and not done yet' });
  });

  it('Idle: observes, leaving a staged update alone', () => {
    expect(decideStep(nodeUpdate({ desiredState: 'Idle' }, 1), host({ state: 'Idle' }))).toEqual({ kind: 'observe' });
    expect(decideStep(nodeUpdate({ desiredState: 'Idle' }, 1), host({ state: 'Available', chosen: '1.1.0' }))).toEqual({ kind: 'observe' });
    expect(decideStep(nodeUpdate({ desiredState: 'Idle' }, 1), host({ state: 'Staged', staged: '1.1.0' }))).toEqual({ kind: 'observe' });
  });

  it('Idle on a host with an activated update (a failed or called-off update): deactivates it', () => {
    const idle = nodeUpdate({ desiredState: 'Idle' }, 5, { observedGeneration: 4, rebootGeneration: 4 });
    expect(decideStep(idle, host({ state: 'Ready', staged: '1.1.0' }))).toEqual({ kind: 'deactivate' });
    // also while the reboot that timed out is still requested: it may never come
    expect(decideStep(idle, host({ state: 'Ready', staged: '1.1.0', rebootPending: true }))).toEqual({ kind: 'deactivate' });
    expect(decideStep(idle, host({ state: 'Staged', staged: '1.1.0', rebootPending: true }))).toEqual({ kind: 'observe' });
  });

  it('Staged: prepares the target unless that exact version is staged already', () => {
    const nu = nodeUpdate({ desiredState: 'Staged', targetVersion: '1.1.0' }, 2);
    expect(decideStep(nu, host({ state: 'Available', chosen: '1.2.0' }))).toEqual({ kind: 'prepare', version: '1.1.0' });
    expect(decideStep(nu, host({ state: 'Staged', staged: '1.2.0' }))).toEqual({ kind: 'prepare', version: '1.1.0' });
    expect(decideStep(nu, host({ state: 'Staged', staged: '1.1.0' }))).toEqual({ kind: 'observe' });
  });

  it('a spec without targetVersion fails with a reason', () => {
    expect(decideStep(nodeUpdate({ desiredState: 'Staged' }, 2), host())).toEqual({
      kind: 'fail',
      reason: 'PrepareFailed',
      message: 'spec.desiredState is Staged but spec.targetVersion is empty',
    });
  });

  it('Rebooted before the reboot: activates the staged target (preparing it if missing) and reboots', () => {
    const nu = nodeUpdate({ desiredState: 'Rebooted', targetVersion: '1.1.0' }, 4, { observedGeneration: 3, rebootGeneration: 1 });
    expect(decideStep(nu, host({ state: 'Staged', staged: '1.1.0' }))).toEqual({ kind: 'reboot', version: '1.1.0', prepare: false, activate: true });
    expect(decideStep(nu, host({ state: 'Ready', staged: '1.1.0' }))).toEqual({ kind: 'reboot', version: '1.1.0', prepare: false, activate: false });
    expect(decideStep(nu, host({ state: 'Available', chosen: '1.1.0' }))).toEqual({ kind: 'reboot', version: '1.1.0', prepare: true, activate: true });
    expect(decideStep(nu, host({ state: 'Ready', staged: '1.0.5' }))).toEqual({ kind: 'reboot', version: '1.1.0', prepare: true, activate: true });
  });

  it('Rebooted after the reboot on the target: verifies (health check, mark successful)', () => {
    const nu = nodeUpdate({ desiredState: 'Rebooted', targetVersion: '1.1.0' }, 4, { rebootGeneration: 4 });
    expect(decideStep(nu, host({ runningVersion: '1.1.0', activeBootSuccessful: false }))).toEqual({ kind: 'verify', version: '1.1.0', alreadyMarked: false });
    expect(decideStep(nu, host({ runningVersion: '1.1.0', activeBootSuccessful: true }))).toEqual({ kind: 'verify', version: '1.1.0', alreadyMarked: true });
  });

  it('Rebooted after the reboot on another version: rolled back, with the target named', () => {
    const nu = nodeUpdate({ desiredState: 'Rebooted', targetVersion: '1.1.0' }, 4, { rebootGeneration: 4 });
    expect(decideStep(nu, host({ runningVersion: '1.0.0', state: 'Available', chosen: '1.1.0' }))).toEqual({
      kind: 'fail',
      reason: 'RolledBack',
      version: '1.1.0',
      message:
        'host rebooted into 1.0.0 instead of 1.1.0: the new image did not come up healthy and the host fell back to its previous partition set; not retried automatically',
    });
  });

  it('Rebooted, reboot recorded but the host still Ready for the target: the reboot never happened, reboot again', () => {
    const nu = nodeUpdate({ desiredState: 'Rebooted', targetVersion: '1.1.0' }, 4, { rebootGeneration: 4 });
    expect(decideStep(nu, host({ state: 'Ready', staged: '1.1.0' }))).toEqual({ kind: 'reboot', version: '1.1.0', prepare: false, activate: false });
  });
});

describe('hostReport', () => {
  it('mirrors the host and deletes fields that no longer apply (null in a merge patch)', () => {
    const now = new Date('2026-11-25T08:40:01.234Z');
    expect(hostReport(host({ state: 'Ready', staged: '1.1.0', chosen: '1.1.0' }), now)).toEqual({
      hostState: 'Ready',
      currentVersion: '1.0.0',
      availableVersion: '1.1.0',
      stagedVersion: '1.1.0',
      agentHeartbeat: '2026-11-25T08:40:01Z',
    });
    expect(hostReport(host(), now)).toEqual({
      hostState: 'Idle',
      currentVersion: '1.0.0',
      availableVersion: null,
      stagedVersion: null,
      agentHeartbeat: '2026-11-25T08:40:01Z',
    });
  });
});
