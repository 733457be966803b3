import { describe, expect, it } from 'vitest';
import { classifyEviction, pdbFromStatus, planPod, podDisruptionHold, type EvictionOutcome, type PodRef } from '../src/controller/drain-plan.js';
import { drainNode, type DrainDeps } from '../src/controller/drain.js';

const pod = (name: string, extra: Partial<PodRef> = {}): PodRef => ({ namespace: 'default', name, uid: `uid-${name}`, ownerKinds: ['ReplicaSet'], annotations: {}, deleting: false, ...extra });

describe('planPod (drain filters)', () => {
  it('skips DaemonSet and mirror pods, waits for terminating ones, evicts the rest', () => {
    expect(planPod(pod('ds', { ownerKinds: ['DaemonSet'] })).action).toBe('skip');
    expect(planPod(pod('static', { ownerKinds: ['Node'], annotations: { 'kubernetes.io/config.mirror': 'abc' } })).action).toBe('skip');
    expect(planPod(pod('going', { deleting: true })).action).toBe('wait');
    expect(planPod(pod('web')).action).toBe('evict');
    expect(planPod(pod('bare', { ownerKinds: [] })).action).toBe('evict');
  });
});

describe('podDisruptionHold', () => {
  const dnd = { 'karpenter.sh/do-not-disrupt': 'true' };
  it('names the first pod the drain would evict that asks not to be disrupted', () => {
    expect(podDisruptionHold([pod('web'), pod('batch', { namespace: 'jobs', annotations: dnd }), pod('other', { annotations: dnd })])).toBe('pod jobs/batch annotated karpenter.sh/do-not-disrupt="true"');
  });
  it('ignores pods the drain leaves alone or only waits for, and other values', () => {
    expect(podDisruptionHold([pod('ds', { ownerKinds: ['DaemonSet'], annotations: dnd }), pod('going', { deleting: true, annotations: dnd }), pod('web', { annotations: { 'karpenter.sh/do-not-disrupt': 'false' } })])).toBeUndefined();
    expect(podDisruptionHold([])).toBeUndefined();
  });
});

describe('classifyEviction (retry rules)', () => {
  const pdbRefusal = {
    kind: 'Status', code: 429, reason: 'TooManyRequests', message: "Cannot evict pod as it would violate the pod's disruption budget.",
    details: { causes: [{ type: 'DisruptionBudget', message: 'The disruption budget web-pdb needs 2 healthy pods and has 2 currently' }] },
  };
  it('2xx evicted, 404 gone', () => {
    expect(classifyEviction(201, {})).toEqual({ kind: 'evicted' });
    expect(classifyEviction(404, '{}')).toEqual({ kind: 'gone' });
  });
  it('429 retries after at least 5 s and names the PDB', () => {
    expect(classifyEviction(429, JSON.stringify(pdbRefusal))).toEqual({ kind: 'retry', afterSeconds: 5, pdb: 'web-pdb', message: pdbRefusal.message });
  });
  it('429 honours a longer retryAfterSeconds or Retry-After header, never below 5 s', () => {
    expect(classifyEviction(429, { ...pdbRefusal, details: { ...pdbRefusal.details, retryAfterSeconds: 12 } })).toMatchObject({ afterSeconds: 12 });
    expect(classifyEviction(429, { message: 'slow down' }, { 'retry-after': '20' })).toMatchObject({ afterSeconds: 20, pdb: undefined });
    expect(classifyEviction(429, { details: { retryAfterSeconds: 1 } })).toMatchObject({ afterSeconds: 5 });
  });
  it('other codes are errors carrying the server message', () => {
    expect(classifyEviction(500, { message: 'This pod has more than one PodDisruptionBudget' })).toEqual({ kind: 'error', message: 'This pod has more than one PodDisruptionBudget (HTTP 500)' });
  });
  it('finds the PDB in a still-processing message too', () => {
    expect(pdbFromStatus({ message: 'The disruption budget db-pdb is still being processed by the server' })).toBe('db-pdb');
  });
});

/** A fake cluster with a fake clock: sleeping advances time, nothing really waits. */
function fakeCluster(pods: PodRef[], evict: (p: PodRef, now: number) => EvictionOutcome) {
  let clock = 1_000_000;
  const alive = new Set(pods.map((p) => p.uid));
  const calls: Array<{ t: number; op: string; pod: string }> = [];
  const deps: DrainDeps = {
    listPods: async () => pods,
    evict: async (p) => {
      calls.push({ t: clock, op: 'evict', pod: p.name });
      const o = evict(p, clock);
      if (o.kind === 'evicted') alive.delete(p.uid);
      return o;
    },
    forceDelete: async (p) => {
      calls.push({ t: clock, op: 'delete', pod: p.name });
      alive.delete(p.uid);
    },
    gone: async (p) => !alive.has(p.uid),
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    cancelled: () => false,
    log: () => {},
  };
  return { deps, calls, start: clock, alive };
}

const refuse = (): EvictionOutcome => ({ kind: 'retry', afterSeconds: 5, pdb: 'web-pdb', message: 'Cannot evict pod' });

describe('drainNode', () => {
  it('evicts every evictable pod and leaves DaemonSet pods', async () => {
    const c = fakeCluster([pod('a'), pod('ds', { ownerKinds: ['DaemonSet'] }), pod('b')], () => ({ kind: 'evicted' }));
    const r = await drainNode('n1', c.start, { podTimeoutSeconds: 60, timeoutSeconds: 600, escalation: 'GiveUp' }, c.deps);
    expect(r).toEqual({ ok: true });
    expect(c.calls.map((x) => x.pod).sort()).toEqual(['a', 'b']);
    expect(c.alive.has('uid-ds')).toBe(true);
  });

  it('retries a refused eviction no sooner than its retry time until the PDB allows it', async () => {
    let refusals = 3;
    const c = fakeCluster([pod('web')], () => (refusals-- > 0 ? refuse() : { kind: 'evicted' }));
    const r = await drainNode('n1', c.start, { podTimeoutSeconds: 60, timeoutSeconds: 600, escalation: 'GiveUp' }, c.deps);
    expect(r).toEqual({ ok: true });
    expect(c.calls.map((x) => (x.t - c.start) / 1000)).toEqual([0, 5, 10, 15]);
  });

  it('GiveUp: at the per-pod deadline gives up naming the pod and the PDB', async () => {
    const c = fakeCluster([pod('web')], refuse);
    const r = await drainNode('n1', c.start, { podTimeoutSeconds: 12, timeoutSeconds: 600, escalation: 'GiveUp' }, c.deps);
    expect(r).toMatchObject({ ok: false, reason: 'DrainBlocked', condition: { type: 'DrainBlocked', reason: 'PodDisruptionBudget' } });
    expect(r && !r.ok && r.message).toBe('pod deadline of 12s passed: pod default/web not evicted by PodDisruptionBudget web-pdb (Cannot evict pod)');
    expect(c.calls.length).toBe(3); // at 0, 5 and 10 s
  });

  it('None: keeps retrying past the per-pod deadline until the overall deadline', async () => {
    const c = fakeCluster([pod('web')], refuse);
    const r = await drainNode('n1', c.start, { podTimeoutSeconds: 5, timeoutSeconds: 30, escalation: 'None' }, c.deps);
    expect(r && !r.ok && r.message).toMatch(/^drain deadline of 30s passed: pod default\/web not evicted by PodDisruptionBudget web-pdb/);
    expect(c.calls.length).toBe(7);
  });

  it('the overall deadline counts from the phase start (a resumed drain keeps it)', async () => {
    const c = fakeCluster([pod('web')], refuse);
    const r = await drainNode('n1', c.start - 29_000, { podTimeoutSeconds: 600, timeoutSeconds: 30, escalation: 'None' }, c.deps);
    expect(r && !r.ok && r.reason).toBe('DrainBlocked');
    expect(c.calls.length).toBe(1);
  });

  it('ForceDeleteAfter: deletes a pod the PDB still protects at its deadline', async () => {
    const c = fakeCluster([pod('web'), pod('ok')], (p) => (p.name === 'web' ? refuse() : { kind: 'evicted' }));
    const r = await drainNode('n1', c.start, { podTimeoutSeconds: 7, timeoutSeconds: 600, escalation: 'ForceDeleteAfter' }, c.deps);
    expect(r).toEqual({ ok: true });
    expect(c.calls.filter((x) => x.op === 'delete')).toEqual([{ t: c.start + 8000, op: 'delete', pod: 'web' }]);
  });

  it('waits for a pod by UID after eviction, and a terminating pod without evicting it', async () => {
    const c = fakeCluster([pod('slow'), pod('going', { deleting: true })], () => ({ kind: 'evicted' }));
    c.alive.add('uid-slow-stays');
    let checks = 0;
    const gone = c.deps.gone;
    c.deps.gone = async (p) => (p.name === 'going' ? ++checks > 3 : gone(p));
    const r = await drainNode('n1', c.start, { podTimeoutSeconds: 60, timeoutSeconds: 600, escalation: 'GiveUp' }, c.deps);
    expect(r).toEqual({ ok: true });
    expect(c.calls.map((x) => x.pod)).toEqual(['slow']);
    expect(checks).toBe(4);
  });

  it('stops without a result when cancelled', async () => {
    const c = fakeCluster([pod('web')], refuse);
    c.deps.cancelled = () => true;
    expect(await drainNode('n1', c.start, { podTimeoutSeconds: 5, timeoutSeconds: 30, escalation: 'None' }, c.deps)).toBeUndefined();
  });
});
