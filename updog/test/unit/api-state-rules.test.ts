import { describe, expect, it } from 'vitest';
import { UPDATE_COMMANDS, UPDATE_STATES, type UpdateStatus } from '../../src/api/protocol.js';
import {
  IllegalTransitionError,
  applyPrepared,
  applyRefresh,
  assertCommandAllowed,
  assertVersionAvailable,
  emptyStatus,
  rebootRequestedThisBoot,
  reconcileStatus,
  recordRebootRequest,
  type DiskFacts,
} from '../../src/api/state-rules.js';

const img = (version: string) => ({ variant: 'aws-k8s-1.31', arch: 'x86_64', version });

describe('assertCommandAllowed', () => {
  // Bottlerocket's update API rules, exhaustively.
  const allowed: Record<string, string[]> = {
    refresh: ['Idle', 'Available', 'Staged', 'Ready'],
    prepare: ['Available', 'Staged'],
    activate: ['Staged'],
    deactivate: ['Ready'],
    reboot: ['Idle', 'Available', 'Staged', 'Ready'],
    'mark-successful-boot': ['Idle', 'Available', 'Staged', 'Ready'],
  };
  for (const command of UPDATE_COMMANDS) {
    for (const state of UPDATE_STATES) {
      const ok = allowed[command]!.includes(state);
      it(`${command} in ${state}: ${ok ? 'allowed' : 'refused'}`, () => {
        if (ok) expect(() => assertCommandAllowed(command, state)).not.toThrow();
        else {
          expect(() => assertCommandAllowed(command, state)).toThrow(IllegalTransitionError);
          expect(() => assertCommandAllowed(command, state)).toThrow(`${command} is not allowed in state ${state}`);
        }
      });
    }
  }
});

describe('applyRefresh', () => {
  it('moves Idle to Available when an update is chosen, and back to Idle when none is', () => {
    const available = applyRefresh(emptyStatus(), { availableUpdates: ['1.1.0'], chosenUpdate: img('1.1.0') });
    expect(available.updateState).toBe('Available');
    expect(available.chosenUpdate).toEqual(img('1.1.0'));
    const idle = applyRefresh(available, { availableUpdates: ['1.1.0'], chosenUpdate: null });
    expect(idle.updateState).toBe('Idle');
    expect(idle.availableUpdates).toEqual(['1.1.0']);
  });
  it('leaves Staged and Ready in place', () => {
    for (const updateState of ['Staged', 'Ready'] as const) {
      const s = applyRefresh({ ...emptyStatus(), updateState }, { availableUpdates: [], chosenUpdate: null });
      expect(s.updateState).toBe(updateState);
      expect(s.chosenUpdate).toBeNull();
    }
  });
});

describe('assertVersionAvailable', () => {
  it('accepts a version the last refresh found and refuses others, naming the choices', () => {
    const s = { ...emptyStatus(), updateState: 'Available' as const, availableUpdates: ['1.2.0', '1.1.0'] };
    expect(() => assertVersionAvailable(s, '1.1.0')).not.toThrow();
    expect(() => assertVersionAvailable(s, '1.3.0')).toThrow(
      'prepare is not allowed in state Available (allowed in Available, Staged): version 1.3.0 is not among the available updates (1.2.0, 1.1.0)',
    );
  });
});

describe('reconcileStatus', () => {
  const facts = (over: Partial<DiskFacts> = {}): DiskFacts => ({
    activeSet: 'A',
    running: img('1.0.0'),
    nextToBoot: 'A',
    inactiveValid: false,
    ...over,
  });
  const staged = (): UpdateStatus =>
    applyPrepared({ ...emptyStatus(), updateState: 'Available', availableUpdates: ['1.1.0'], chosenUpdate: img('1.1.0') }, img('1.1.0'), 'B');

  it('fills in the active partition from the disk', () => {
    const s = reconcileStatus(emptyStatus(), facts());
    expect(s.updateState).toBe('Idle');
    expect(s.activePartition).toEqual({ set: 'A', image: img('1.0.0'), nextToBoot: true });
    expect(s.stagingPartition).toBeNull();
  });
  it('keeps a staged image that can boot: Staged, or Ready once it is next to boot', () => {
    const s = reconcileStatus(staged(), facts({ inactiveValid: true }));
    expect(s.updateState).toBe('Staged');
    expect(s.stagingPartition).toEqual({ set: 'B', image: img('1.1.0'), nextToBoot: false });
    const r = reconcileStatus(staged(), facts({ inactiveValid: true, nextToBoot: 'B' }));
    expect(r.updateState).toBe('Ready');
    expect(r.stagingPartition).toEqual({ set: 'B', image: img('1.1.0'), nextToBoot: true });
    expect(r.activePartition?.nextToBoot).toBe(false);
  });
  it('after booting into the staged set: Idle, the new image active, the taken update forgotten', () => {
    const s = reconcileStatus(staged(), facts({ activeSet: 'B', running: img('1.1.0'), nextToBoot: 'B', inactiveValid: true }));
    expect(s.updateState).toBe('Idle');
    expect(s.stagingPartition).toBeNull();
    expect(s.chosenUpdate).toBeNull();
    expect(s.availableUpdates).toEqual([]);
    expect(s.activePartition).toEqual({ set: 'B', image: img('1.1.0'), nextToBoot: true });
  });
  it('drops a staged image the disk no longer holds (cleared or fallen back from): Available again', () => {
    const s = reconcileStatus(staged(), facts({ inactiveValid: false }));
    expect(s.updateState).toBe('Available');
    expect(s.stagingPartition).toBeNull();
    expect(s.chosenUpdate).toEqual(img('1.1.0'));
  });
  it('a persisted Ready without a staged image is not trusted', () => {
    const s = reconcileStatus({ ...emptyStatus(), updateState: 'Ready' }, facts());
    expect(s.updateState).toBe('Idle');
  });
});

describe('reboot requests', () => {
  it('are pending for the rest of the boot they were made in, and not after it', () => {
    const requested = recordRebootRequest(emptyStatus(), 'boot-7');
    expect(requested.rebootRequestedInBoot).toBe('boot-7');
    expect(rebootRequestedThisBoot(requested, 'boot-7')).toBe(true);
    expect(rebootRequestedThisBoot(requested, 'boot-8')).toBe(false);
    expect(rebootRequestedThisBoot(emptyStatus(), 'boot-7')).toBe(false);
  });

  it('are never pending on a host without a boot id (the next boot would look the same)', () => {
    const requested = recordRebootRequest(emptyStatus(), '');
    expect(requested.rebootRequestedInBoot).toBeNull();
    expect(rebootRequestedThisBoot(requested, '')).toBe(false);
  });
});
