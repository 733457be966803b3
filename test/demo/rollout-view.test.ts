import { describe, expect, it } from 'vitest';
import { createLiveView, renderTable, rowReason, type NodeRow } from '../../demo/rollout-view.js';
import type { NodeUpdate } from '@updog-ts/update-operator';

const nu = (status: NodeUpdate['status']): NodeUpdate => ({ apiVersion: 'updates.updog.dev/v1alpha1', kind: 'NodeUpdate', metadata: { name: 'n-1' }, spec: { desiredState: 'Idle' }, status });
const pdb = { name: 'web', readyPods: 3, minAvailable: 2 };
const rows: NodeRow[] = [
  { node: 'n-1', state: 'Draining', version: '1.0.0', cordoned: true, reason: 'evicting pods (PDB-aware)' },
  { node: 'n-2', state: 'Idle', version: '1.0.0', cordoned: false, reason: 'waiting for a free slot' },
];

describe('rowReason', () => {
  it('prefers an active condition, then the last failure, then the state in words', () => {
    const drainBlocked = { type: 'DrainBlocked', status: 'True' as const, reason: 'PodDisruptionBudget', message: 'm', lastTransitionTime: 't' };
    expect(rowReason(nu({ state: 'Draining', conditions: [drainBlocked] }), '1.0.0', '1.1.0')).toBe('DrainBlocked: PodDisruptionBudget');
    expect(rowReason(nu({ state: 'Failed', lastFailure: { reason: 'RebootTimeout', message: 'not Ready', time: 't' } }), '1.0.0', '1.1.0')).toBe('RebootTimeout: not Ready');
    expect(rowReason(nu({ state: 'Rebooting' }), '1.0.0', '1.1.0')).toBe('rebooting into 1.1.0');
    expect(rowReason(nu({ state: 'Idle', availableVersion: '1.1.0' }), '1.0.0', '1.1.0')).toBe('waiting for a free slot');
    expect(rowReason(nu({ state: 'Idle' }), '1.0.0', '1.1.0')).toBe('waiting for the agent to see 1.1.0');
    expect(rowReason(nu({ state: 'Idle' }), '1.1.0', '1.1.0')).toBe('updated');
    expect(rowReason(undefined, '1.0.0', '1.1.0')).toBe('agent has not reported yet');
  });
});

describe('renderTable', () => {
  it('pads every column but the last to its widest cell and ends with the PDB', () => {
    expect(renderTable(rows, pdb)).toEqual([
      'NODE  STATE     VERSION  CORDONED  REASON',
      'n-1   Draining  1.0.0    yes       evicting pods (PDB-aware)',
      'n-2   Idle      1.0.0    no        waiting for a free slot',
      'PDB web: 3 ready pods, minAvailable 2',
    ]);
  });
});

describe('createLiveView', () => {
  it('on a terminal redraws in place: cursor up over the previous drawing, clear, draw; lines cut to the width', () => {
    const writes: string[] = [];
    const view = createLiveView({ isTTY: true, columns: 30, write: (t) => writes.push(t) }, Date.now());
    view.update(rows, pdb);
    view.update(rows, pdb);
    expect(writes).toHaveLength(2);
    const drawing = 'NODE  STATE     VERSION  COR…\nn-1   Draining  1.0.0    yes…\nn-2   Idle      1.0.0    no …\nPDB web: 3 ready pods, minAv…\n';
    expect(writes[0]!.startsWith(drawing)).toBe(true);
    expect(writes[0]!).toMatch(/\nelapsed [\d.]+s\n$/);
    expect(writes[1]!.startsWith(`\x1b[5A\x1b[0J${drawing}`)).toBe(true);
  });

  it('elsewhere appends a line per changed row or PDB count, nothing for an unchanged sample', () => {
    const writes: string[] = [];
    const view = createLiveView({ write: (t) => writes.push(t) }, Date.now());
    view.update(rows, pdb);
    view.update(rows, pdb);
    view.update([rows[0]!, { ...rows[1]!, state: 'Staging', reason: 'writing 1.1.0 to the inactive partitions' }], { ...pdb, readyPods: 2 });
    expect(writes.map((w) => w.replace(/^\[[\d.]+s\] /, ''))).toEqual([
      'n-1 | Draining | 1.0.0 | cordoned yes | evicting pods (PDB-aware)\n',
      'n-2 | Idle | 1.0.0 | cordoned no | waiting for a free slot\n',
      'PDB web: 3 ready pods, minAvailable 2\n',
      'n-2 | Staging | 1.0.0 | cordoned no | writing 1.1.0 to the inactive partitions\n',
      'PDB web: 2 ready pods, minAvailable 2\n',
    ]);
  });
});
