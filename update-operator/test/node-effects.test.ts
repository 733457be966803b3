import { describe, expect, it } from 'vitest';
import { cordonPatch, disruptionHold, holdPatch, mergeNodePatches, releasePatch, uncordonPatch, type NodeSnapshot } from '../src/controller/node-effects.js';
import { matchesSelector } from '../src/controller/selector.js';
import { WorkQueue } from '../src/controller/work-queue.js';
import { decideLease } from '../src/controller/leader-election.js';

const PRIOR = 'updates.updog.dev/cordoned-before-update';
const PRIOR_LB = 'updates.updog.dev/excluded-from-lb-before-update';
const LB = 'node.kubernetes.io/exclude-from-external-load-balancers';
const node = (n: Partial<NodeSnapshot> = {}): NodeSnapshot => ({ unschedulable: false, labels: {}, annotations: {}, ...n });

/** Applies a merge patch to a snapshot, as the apiserver would. */
function applied(n: NodeSnapshot, patch: ReturnType<typeof cordonPatch>): NodeSnapshot {
  const merge = (base: Record<string, string>, p: Record<string, string | null> = {}) => {
    const out = { ...base };
    for (const [k, v] of Object.entries(p)) if (v === null) delete out[k];
    else out[k] = v;
    return out;
  };
  return {
    unschedulable: patch?.spec ? patch.spec.unschedulable === true : n.unschedulable,
    labels: merge(n.labels, patch?.metadata?.labels),
    annotations: merge(n.annotations, patch?.metadata?.annotations),
  };
}

describe('cordon / uncordon', () => {
  it('cordons a schedulable node, remembering it was schedulable, and uncordon restores it exactly', () => {
    const start = node({ labels: { a: 'b' } });
    const p = cordonPatch(start, false);
    expect(p).toEqual({ metadata: { annotations: { [PRIOR]: 'false' } }, spec: { unschedulable: true } });
    const cordoned = applied(start, p);
    expect(cordonPatch(cordoned, false)).toBeNull();
    expect(applied(cordoned, uncordonPatch(cordoned))).toEqual(start);
  });
  it('never undoes an admin cordon', () => {
    const admin = node({ unschedulable: true });
    const cordoned = applied(admin, cordonPatch(admin, false));
    expect(cordoned.annotations[PRIOR]).toBe('true');
    const after = applied(cordoned, uncordonPatch(cordoned));
    expect(after).toEqual(admin);
  });
  it('re-asserts a cordon lost mid-update without forgetting the prior state', () => {
    const lost = node({ annotations: { [PRIOR]: 'false' } });
    expect(cordonPatch(lost, false)).toEqual({ spec: { unschedulable: true } });
  });
  it('excludes from load balancers and restores only what it added', () => {
    const start = node();
    const cordoned = applied(start, cordonPatch(start, true));
    expect(cordoned.labels[LB]).toBe('true');
    expect(cordoned.annotations[PRIOR_LB]).toBe('false');
    expect(applied(cordoned, uncordonPatch(cordoned))).toEqual(start);
    const excludedByAdmin = node({ labels: { [LB]: 'true' } });
    const c2 = applied(excludedByAdmin, cordonPatch(excludedByAdmin, true));
    expect(applied(c2, uncordonPatch(c2))).toEqual(excludedByAdmin);
  });
  it('does nothing on a node it never cordoned', () => {
    expect(uncordonPatch(node({ unschedulable: true }))).toBeNull();
  });
});

describe('matchesSelector', () => {
  const labels = { pool: 'web', zone: 'a' };
  it('implements matchLabels and every expression operator', () => {
    expect(matchesSelector(labels, {})).toBe(true);
    expect(matchesSelector(labels, { matchLabels: { pool: 'web' } })).toBe(true);
    expect(matchesSelector(labels, { matchLabels: { pool: 'db' } })).toBe(false);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] })).toBe(false);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'gpu', operator: 'NotIn', values: ['x'] }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] })).toBe(false);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] })).toBe(true);
  });
});

describe('autoscaler hold', () => {
  const KARPENTER = 'karpenter.sh/do-not-disrupt';
  const CA = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';
  const PRIOR_HOLD = 'updates.updog.dev/autoscaler-hold-before-update';
  it('holds a node with both annotations while in flight and restores exactly what was there', () => {
    const start = node({ annotations: { [CA]: 'false', other: 'x' } });
    const p = holdPatch(start);
    expect(p).toEqual({ metadata: { annotations: { [PRIOR_HOLD]: `{"${CA}":"false"}`, [KARPENTER]: 'true', [CA]: 'true' } } });
    const held = applied(start, p);
    expect(holdPatch(held)).toBeNull();
    // our own hold is not a reason to skip the node
    expect(disruptionHold(held)).toBeUndefined();
    expect(applied(held, releasePatch(held))).toEqual(start);
    expect(releasePatch(start)).toBeNull();
  });
  it('an annotation the operator did not set keeps the node back, even while the operator holds it', () => {
    expect(disruptionHold(node({ annotations: { [KARPENTER]: 'true' } }))).toBe(`node annotated ${KARPENTER}="true"`);
    expect(disruptionHold(node({ annotations: { [CA]: 'true' } }))).toBe(`node annotated ${CA}="true"`);
    expect(disruptionHold(node({ annotations: { [KARPENTER]: 'false' } }))).toBeUndefined();
    const admin = node({ annotations: { [KARPENTER]: 'true' } });
    expect(disruptionHold(applied(admin, holdPatch(admin)))).toBe(`node annotated ${KARPENTER}="true"`);
  });
  it('merges the hold into the cordon patch', () => {
    const start = node();
    const merged = mergeNodePatches(cordonPatch(start, false), holdPatch(start));
    expect(merged).toEqual({ metadata: { annotations: { [PRIOR]: 'false', [PRIOR_HOLD]: '{}', [KARPENTER]: 'true', [CA]: 'true' } }, spec: { unschedulable: true } });
    const done = applied(start, merged);
    expect(applied(done, mergeNodePatches(uncordonPatch(done), releasePatch(done)))).toEqual(start);
    expect(mergeNodePatches(null, null)).toBeNull();
  });
});

describe('WorkQueue', () => {
  it('dedups queued keys and re-runs a key added while it is processed', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue<string>(async (k) => {
      seen.push(k);
      if (seen.length === 1) await gate;
    }, () => {});
    q.add('a');
    q.add('a'); // being processed: runs again afterwards
    q.add('b');
    q.add('b'); // queued: once
    release();
    await q.settled();
    expect(seen).toEqual(['a', 'a', 'b']);
  });
  it('reports a failing key, carries on, and retries the key with a doubling delay', async () => {
    const errors: string[] = [];
    const seen: string[] = [];
    const q = new WorkQueue<string>(async (k) => {
      seen.push(k);
      if (k === 'bad' && seen.filter((s) => s === 'bad').length < 3) throw new Error('boom');
    }, (k, e, retryInMs) => errors.push(`${k}: ${(e as Error).message} (retry in ${retryInMs} ms)`), { baseRetryMs: 5 });
    q.add('bad');
    q.add('good');
    await q.settled();
    expect(errors).toEqual(['bad: boom (retry in 5 ms)']);
    await new Promise((r) => setTimeout(r, 50));
    await q.settled();
    expect(errors).toEqual(['bad: boom (retry in 5 ms)', 'bad: boom (retry in 10 ms)']);
    await new Promise((r) => setTimeout(r, 50));
    await q.settled();
    expect(seen).toEqual(['bad', 'good', 'bad', 'bad']);
    await q.shutdown();
  });
  it('runs at most `concurrency` keys at once and never one key twice at once', async () => {
    let running = 0;
    let maxRunning = 0;
    const perKey = new Map<number, number>();
    const q = new WorkQueue<number>(async (k) => {
      running++;
      perKey.set(k, (perKey.get(k) ?? 0) + 1);
      maxRunning = Math.max(maxRunning, running);
      expect(perKey.get(k)).toBe(1);
      await new Promise((r) => setTimeout(r, 5));
      perKey.set(k, perKey.get(k)! - 1);
      running--;
    }, () => {}, { concurrency: 4 });
    for (let i = 0; i < 20; i++) {
      q.add(i % 10);
      q.add(i % 10);
    }
    await q.settled();
    expect(maxRunning).toBe(4);
    expect(running).toBe(0);
  });
});

describe('decideLease', () => {
  const rec = (holder: string | undefined) => ({ holder, leaseDurationSeconds: 15, transitions: 0 });
  it('acquires a free lease, renews its own, waits for a live holder and takes over an expired one', () => {
    expect(decideLease(undefined, 'me', 0, 0, 15_000)).toBe('acquire');
    expect(decideLease(rec(''), 'me', 0, 0, 15_000)).toBe('acquire');
    expect(decideLease(rec('me'), 'me', 0, 99_999, 15_000)).toBe('renew');
    expect(decideLease(rec('other'), 'me', 1000, 15_999, 15_000)).toBe('wait');
    expect(decideLease(rec('other'), 'me', 1000, 16_000, 15_000)).toBe('acquire');
  });
});
