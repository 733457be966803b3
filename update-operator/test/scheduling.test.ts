import { describe, expect, it } from 'vitest';
import { resolvePolicy, type NodeUpdateStatus } from '../src/model/api.js';
import { backoffMs } from '../src/controller/backoff.js';
import { inMaintenanceWindow, ineligibility, PolicyError, resolveMaxUnavailable, schedule, type Candidate } from '../src/controller/scheduling.js';

const now = new Date('2026-03-10T12:00:00Z');
const node = (name: string, status: NodeUpdateStatus, target: string | undefined = '1.1.0'): Candidate => ({ name, status, target });
const idle = (name: string) => node(name, { state: 'Idle', currentVersion: '1.0.0' });

describe('backoff', () => {
  it('is 2^n minutes capped at 24 h', () => {
    expect([0, 1, 2, 3, 10].map(backoffMs)).toEqual([60_000, 120_000, 240_000, 480_000, 1024 * 60_000]);
    expect(backoffMs(11)).toBe(24 * 3600_000);
    expect(backoffMs(500)).toBe(24 * 3600_000);
  });
});

describe('resolveMaxUnavailable', () => {
  it('takes numbers as given, percentages of the selected nodes rounded down, at least 1', () => {
    expect(resolveMaxUnavailable(2, 5)).toBe(2);
    expect(resolveMaxUnavailable('40%', 5)).toBe(2);
    expect(resolveMaxUnavailable('10%', 5)).toBe(1);
    expect(resolveMaxUnavailable('100%', 5)).toBe(5);
    expect(resolveMaxUnavailable(0, 5)).toBe(1);
    expect(resolveMaxUnavailable('3', 5)).toBe(3);
  });
  it('rejects anything else with the value in the message', () => {
    expect(() => resolveMaxUnavailable('half', 5)).toThrow(PolicyError);
    expect(() => resolveMaxUnavailable('half', 5)).toThrow(/"half"/);
  });
});

describe('inMaintenanceWindow', () => {
  const nightly = { schedule: '0 2 * * *', timeZone: 'UTC', durationSeconds: 7200 };
  it('is always open without windows', () => {
    expect(inMaintenanceWindow([], now)).toBe(true);
  });
  it('is open from the start for the duration, end exclusive', () => {
    expect(inMaintenanceWindow([nightly], new Date('2026-03-10T02:00:00Z'))).toBe(true);
    expect(inMaintenanceWindow([nightly], new Date('2026-03-10T03:59:59Z'))).toBe(true);
    expect(inMaintenanceWindow([nightly], new Date('2026-03-10T04:00:00Z'))).toBe(false);
    expect(inMaintenanceWindow([nightly], new Date('2026-03-10T01:59:59Z'))).toBe(false);
  });
  it('reads the schedule in its time zone', () => {
    // 02:00 in New York (EDT, UTC-4 on 2026-06-10) is 06:00 UTC
    const ny = { ...nightly, timeZone: 'America/New_York' };
    expect(inMaintenanceWindow([ny], new Date('2026-06-10T06:30:00Z'))).toBe(true);
    expect(inMaintenanceWindow([ny], new Date('2026-06-10T02:30:00Z'))).toBe(false);
  });
  it('is open if any window is', () => {
    expect(inMaintenanceWindow([nightly, { schedule: '0 12 * * 2', durationSeconds: 60 }], now)).toBe(true);
  });
  it('reports an invalid schedule clearly', () => {
    expect(() => inMaintenanceWindow([{ schedule: 'every night', durationSeconds: 60 }], now)).toThrow(/"every night"/);
  });
  it('reports an invalid window even while another one is open', () => {
    expect(inMaintenanceWindow([nightly], new Date('2026-03-10T02:30:00Z'))).toBe(true);
    expect(() => inMaintenanceWindow([nightly, { schedule: 'every night', durationSeconds: 60 }], new Date('2026-03-10T02:30:00Z'))).toThrow(PolicyError);
  });
  it('reports an unknown time zone as an invalid window', () => {
    expect(() => inMaintenanceWindow([{ ...nightly, timeZone: 'Europe/Atlantis' }], now)).toThrow(PolicyError);
    expect(() => inMaintenanceWindow([{ ...nightly, timeZone: 'Europe/Atlantis' }], now)).toThrow(/^maintenance window schedule "0 2 \* \* \*" \(Europe\/Atlantis\) is invalid: /);
  });
  it('refuses an empty time zone instead of reading the schedule in local time', () => {
    expect(() => inMaintenanceWindow([{ ...nightly, timeZone: '' }], now)).toThrow(
      'maintenance window schedule "0 2 * * *" () is invalid: the time zone is empty (leave it out for UTC)',
    );
  });
  it('takes a leading seconds field', () => {
    const atSecond = { schedule: '30 0 2 * * *', durationSeconds: 10 };
    expect(inMaintenanceWindow([atSecond], new Date('2026-03-10T02:00:29Z'))).toBe(false);
    expect(inMaintenanceWindow([atSecond], new Date('2026-03-10T02:00:30Z'))).toBe(true);
    expect(inMaintenanceWindow([atSecond], new Date('2026-03-10T02:00:40Z'))).toBe(false);
  });
});

describe('schedule', () => {
  const policy = resolvePolicy({ maxUnavailable: 2 });
  it('admits up to the budget, in name order', () => {
    const s = schedule([idle('n3'), idle('n1'), idle('n2')], policy, now);
    expect(s.admit.map((c) => c.name)).toEqual(['n1', 'n2']);
    expect(s.status).toEqual({ paused: false, failures: 0, nodesUpdating: 0, maxUnavailable: 2, inMaintenanceWindow: true });
  });
  it('counts every in-flight state against the budget', () => {
    for (const state of ['Staging', 'Staged', 'Draining', 'Rebooting', 'Verifying'] as const) {
      const s = schedule([node('a', { state, currentVersion: '1.0.0' }), idle('b'), idle('c')], policy, now);
      expect(s.admit.map((c) => c.name)).toEqual(['b']);
    }
    const full = schedule([node('a', { state: 'Draining' }), node('b', { state: 'Rebooting' }), idle('c')], policy, now);
    expect(full.admit).toEqual([]);
    expect(full.status.nodesUpdating).toBe(2);
  });
  it('skips nodes up to date, without an agent report or without a target', () => {
    const nodes = [node('a', { state: 'Idle', currentVersion: '1.1.0' }), node('b', { state: 'Idle' }), { name: 'c', status: { state: 'Idle', currentVersion: '1.0.0' }, target: undefined } as Candidate];
    expect(schedule(nodes, policy, now).admit).toEqual([]);
    expect(nodes.map((n) => ineligibility(n, policy, now))).toEqual(['up to date', 'no agent report yet', 'up to date']);
  });
  it('admits nothing when paused or outside every window, but reports the budget', () => {
    expect(schedule([idle('a')], resolvePolicy({ paused: true }), now)).toEqual({
      admit: [],
      status: { paused: true, pausedReason: 'Paused', failures: 0, nodesUpdating: 0, maxUnavailable: 1, inMaintenanceWindow: true },
    });
    const closed = schedule([idle('a')], resolvePolicy({ maintenanceWindows: [{ schedule: '0 2 * * *', durationSeconds: 60 }] }), now);
    expect(closed.admit).toEqual([]);
    expect(closed.status.inMaintenanceWindow).toBe(false);
  });
  const failed = (name: string, reason: string, time: string, nextAttemptAt?: string): Candidate =>
    node(name, { state: 'Failed', currentVersion: '1.0.0', attempts: 1, lastFailure: { reason, message: 'm', time, version: '1.1.0' }, ...(nextAttemptAt ? { nextAttemptAt } : {}) });
  it('pauses after the failure budget and resumes once failures are forgiven by resetAt', () => {
    const nodes = [failed('a', 'DrainBlocked', '2026-03-10T11:59:00Z', '2026-03-10T12:01:00Z'), idle('b')];
    const paused = schedule(nodes, resolvePolicy({ failureBudget: { maxFailures: 1 } }), now);
    expect(paused.status).toMatchObject({ paused: true, pausedReason: 'FailureBudgetExhausted', failures: 1 });
    expect(paused.admit).toEqual([]);
    const reset = schedule(nodes, resolvePolicy({ maxUnavailable: 2, failureBudget: { maxFailures: 1, resetAt: '2026-03-10T11:59:30Z' } }), now);
    expect(reset.status).toMatchObject({ paused: false, failures: 0 });
    // forgiven: the backoff no longer holds the node back; fresh nodes still go first
    expect(reset.admit.map((c) => c.name)).toEqual(['b', 'a']);
  });
  it('retries a failed node only after its backoff', () => {
    const lenient = resolvePolicy({ failureBudget: { maxFailures: 5 } });
    const waiting = failed('a', 'DrainBlocked', '2026-03-10T11:59:00Z', '2026-03-10T12:01:00Z');
    expect(ineligibility(waiting, lenient, now)).toBe('backing off until 2026-03-10T12:01:00Z');
    expect(ineligibility(waiting, lenient, new Date('2026-03-10T12:01:00Z'))).toBeNull();
  });
  it('never retries a rolled-back version automatically, only after a reset', () => {
    const lenient = resolvePolicy({ failureBudget: { maxFailures: 5 } });
    const rolledBack = failed('a', 'RolledBack', '2026-03-10T11:00:00Z');
    expect(ineligibility(rolledBack, lenient, new Date('2026-03-20T00:00:00Z'))).toMatch(/rolled back from 1.1.0/);
    expect(ineligibility({ ...rolledBack, target: '1.2.0' }, lenient, now)).toBeNull();
    const forgiven = resolvePolicy({ failureBudget: { maxFailures: 5, resetAt: '2026-03-10T11:30:00Z' } });
    expect(ineligibility(rolledBack, forgiven, now)).toBeNull();
  });
});
