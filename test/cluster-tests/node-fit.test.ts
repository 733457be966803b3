import { describe, expect, it } from 'vitest';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { chooseNode, isNodeReadyForPods, podFitsNode, tolerates } from '../cluster/node-fit.js';

function node(name: string, opts: { ready?: boolean; labels?: Record<string, string>; unschedulable?: boolean; taints?: NonNullable<V1Node['spec']>['taints'] } = {}): V1Node {
  return {
    metadata: { name, labels: opts.labels ?? {} },
    spec: { unschedulable: opts.unschedulable, taints: opts.taints },
    status: { conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

function pod(spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return { metadata: { name: 'p' }, spec: { containers: [{ name: 'c' }], ...spec } };
}

/** What the DaemonSet controller puts on its pods. */
const daemonSetPod = (nodeName: string): V1Pod =>
  pod({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }] } } },
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
    ],
  });

describe('node fit', () => {
  it('needs a Ready node whose labels satisfy the nodeSelector', () => {
    expect(podFitsNode(pod({ nodeSelector: { pool: 'a' } }), node('n', { labels: { pool: 'a', other: 'x' } }))).toBe(true);
    expect(podFitsNode(pod({ nodeSelector: { pool: 'a' } }), node('n', { labels: { pool: 'b' } }))).toBe(false);
    expect(podFitsNode(pod(), node('n', { ready: false }))).toBe(false);
  });

  it('keeps ordinary pods off cordoned nodes but lets DaemonSet pods onto their own node only', () => {
    const cordoned = node('n1', { unschedulable: true });
    expect(podFitsNode(pod(), cordoned)).toBe(false);
    expect(podFitsNode(daemonSetPod('n1'), cordoned)).toBe(true);
    expect(podFitsNode(daemonSetPod('n1'), node('n2'))).toBe(false);
  });

  it('honours NoSchedule/NoExecute taints and ignores PreferNoSchedule', () => {
    const tainted = node('n', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    expect(podFitsNode(pod(), tainted)).toBe(false);
    expect(podFitsNode(pod({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] }), tainted)).toBe(true);
    expect(podFitsNode(pod({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'cpu' }] }), tainted)).toBe(false);
    expect(podFitsNode(pod(), node('n', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }))).toBe(true);
  });

  it('matches tolerations like the scheduler: empty key with Exists tolerates everything', () => {
    const taint = { key: 'k', value: 'v', effect: 'NoExecute' };
    expect(tolerates([{ operator: 'Exists' }], taint)).toBe(true);
    expect(tolerates([{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }], taint)).toBe(false);
    expect(tolerates([{ key: 'k', value: 'v' }], taint)).toBe(true);
  });

  it('evaluates required node affinity expressions (terms ORed, requirements ANDed)', () => {
    const affinity = (terms: object[]): V1Pod =>
      pod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms as never } } } });
    const p = affinity([
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'gpu', operator: 'DoesNotExist' }] },
      { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['8'] }] },
    ]);
    expect(podFitsNode(p, node('n', { labels: { zone: 'a' } }))).toBe(true);
    expect(podFitsNode(p, node('n', { labels: { zone: 'a', gpu: '1' } }))).toBe(false);
    expect(podFitsNode(p, node('n', { labels: { cores: '16' } }))).toBe(true);
    expect(podFitsNode(p, node('n', { labels: { cores: '4' } }))).toBe(false);
  });

  it('chooses the fitting node with the fewest pods, ties by name', () => {
    const nodes = [node('c'), node('b'), node('a', { ready: false })];
    expect(chooseNode(pod(), nodes, new Map())?.metadata?.name).toBe('b');
    expect(chooseNode(pod(), nodes, new Map([['b', 2], ['c', 1]]))?.metadata?.name).toBe('c');
    expect(chooseNode(pod({ nodeSelector: { none: 'x' } }), nodes, new Map())).toBeUndefined();
  });

  it('counts a node as taking pods once Ready and rid of the node lifecycle health taints; a cordon is not one', () => {
    expect(isNodeReadyForPods(node('n'))).toBe(true);
    expect(isNodeReadyForPods(node('n', { ready: false }))).toBe(false);
    expect(isNodeReadyForPods(node('n', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }))).toBe(false);
    expect(isNodeReadyForPods(node('n', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }))).toBe(false);
    expect(isNodeReadyForPods(node('n', { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }))).toBe(true);
  });
});
