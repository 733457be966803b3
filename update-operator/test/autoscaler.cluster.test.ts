/**
 * Autoscaler awareness on the real test cluster: a node annotated karpenter.sh/do-not-disrupt is
 * skipped (condition and Event) until the annotation goes; a node in flight carries the
 * autoscalers' hold annotations while cordoned, and they are restored after.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { NEW, OLD, useRolloutFixture } from './helpers/rollout-fixture.js';

const cluster = useTestCluster();
const core = cluster.kc.makeApiClient(CoreV1Api);
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const KARPENTER = 'karpenter.sh/do-not-disrupt';
const CA = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';

describe('autoscaler hold annotations', () => {
  const fixture = useRolloutFixture(cluster, { id: 'dnd', nodes: 2 });

  it('skips an annotated node until the annotation is removed, and holds nodes in flight against autoscalers', { timeout: 300_000 }, async () => {
    const f = fixture();
    const [held, free] = f.names as [string, string];
    await core.patchNode({ name: held, body: { metadata: { annotations: { [KARPENTER]: 'true' } } } }, MERGE_PATCH);
    await f.setPolicy({ paused: true, maxUnavailable: 2, healthGate: { soakSeconds: 1 } });
    const controller = f.startController('dnd-a');
    await f.awaitAgentReports();

    // while cordoned by the operator, a node carries both hold annotations
    const observed = { cordonedSamples: 0, cordonedWithoutHold: 0 };
    let monitoring = true;
    const monitor = (async () => {
      while (monitoring) {
        for (const n of await f.nodes()) {
          const a = n.metadata?.annotations ?? {};
          if (a['updates.updog.dev/cordoned-before-update'] === undefined) continue;
          observed.cordonedSamples++;
          if (a[KARPENTER] !== 'true' || a[CA] !== 'true') observed.cordonedWithoutHold++;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await f.patchPolicy({ paused: false });
      await waitFor(async () => (await f.nodeUpdates()).find((nu) => nu.metadata.name === free)?.status?.currentVersion === NEW && (await f.nodeUpdates())[1]?.status?.state === 'Idle', {
        what: `${free} updated`,
        timeoutMs: 120_000,
      });
      const heldNu = await waitFor(async () => (await f.nodeUpdates()).find((nu) => nu.metadata.name === held && nu.status?.conditions?.some((c) => c.type === 'DisruptionHold')), {
        what: `${held} to report its hold`,
      });
      expect(heldNu.status?.state).toBe('Idle');
      expect(heldNu.status?.currentVersion).toBe(OLD);
      expect(heldNu.status?.conditions?.find((c) => c.type === 'DisruptionHold')).toMatchObject({ status: 'True', reason: 'DoNotDisrupt', message: `skipped: node annotated ${KARPENTER}="true"` });
      const events = async () => (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=NodeUpdate,involvedObject.name=${held}` })).items;
      expect((await events()).map((e) => [e.reason, e.message])).toEqual([['DisruptionHold', `skipped until the annotation is removed: node annotated ${KARPENTER}="true"`]]);
      expect(f.hosts[0]?.rebootRequests).toBe(0);

      // the admin removes the annotation: the node is updated
      await core.patchNode({ name: held, body: { metadata: { annotations: { [KARPENTER]: null } } } }, MERGE_PATCH);
      await waitFor(async () => (await f.nodeUpdates()).every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === NEW), { what: 'both nodes on the new version', timeoutMs: 120_000 });
      // the controller writes its Events after the status (not awaited): wait for the last one
      const reasons = await waitFor(async () => {
        const seen = (await events()).map((e) => e.reason);
        return seen.includes('Updated') ? seen : undefined;
      }, { what: `the Updated Event of ${held}` });
      expect(reasons).toEqual(expect.arrayContaining(['DisruptionHold', 'DisruptionHoldReleased', 'Staging', 'Updated']));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    } finally {
      monitoring = false;
      await monitor;
    }
    expect(observed.cordonedSamples).toBeGreaterThan(0);
    expect(observed.cordonedWithoutHold).toBe(0);
    const nus = await f.nodeUpdates();
    expect(nus.every((nu) => !nu.status?.conditions?.some((c) => c.type === 'DisruptionHold'))).toBe(true);
    // every annotation of the operator and the hold it set are gone again
    for (const n of await f.nodes()) {
      const keys = Object.keys(n.metadata?.annotations ?? {});
      expect(keys.filter((k) => k.startsWith('updates.updog.dev/') || k === KARPENTER || k === CA)).toEqual([]);
    }
  });
});

describe('a pod annotated do-not-disrupt', () => {
  const fixture = useRolloutFixture(cluster, { id: 'dndpod', nodes: 2 });

  it('keeps its node back (drain stopped before any eviction, node uncordoned, Idle) until the annotation goes', { timeout: 300_000 }, async () => {
    const f = fixture();
    const [held, free] = f.names as [string, string];
    const pod = { namespace: f.namespace, name: 'keep-me' };
    await core.createNamespacedPod({
      namespace: pod.namespace,
      body: { metadata: { name: pod.name, annotations: { [KARPENTER]: 'true' } }, spec: { nodeName: held, containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
    });
    const uid = (await core.readNamespacedPod(pod)).metadata?.uid;
    await f.setPolicy({ paused: true, maxUnavailable: 2, healthGate: { soakSeconds: 1 } });
    const controller = f.startController('dndpod-a');
    await f.awaitAgentReports();
    const hold = `pod ${pod.namespace}/${pod.name} annotated ${KARPENTER}="true"`;
    const events = async () => (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=NodeUpdate,involvedObject.name=${held}` })).items;
    try {
      await f.patchPolicy({ paused: false });
      await waitFor(async () => (await f.nodeUpdates()).find((nu) => nu.metadata.name === free)?.status?.currentVersion === NEW, { what: `${free} updated`, timeoutMs: 120_000 });
      const heldNu = await waitFor(
        async () => (await f.nodeUpdates()).find((nu) => nu.metadata.name === held && nu.status?.state === 'Idle' && nu.status.conditions?.some((c) => c.type === 'DisruptionHold')),
        { what: `${held} back to Idle with its hold`, timeoutMs: 120_000 },
      );
      expect(heldNu.status?.currentVersion).toBe(OLD);
      expect(heldNu.status?.conditions?.find((c) => c.type === 'DisruptionHold')).toMatchObject({ status: 'True', reason: 'PodDoNotDisrupt', message: `skipped: ${hold}` });
      expect(heldNu.spec).toEqual({ desiredState: 'Idle' });
      // nothing was evicted, the node takes pods again, and it never rebooted
      expect((await core.readNamespacedPod(pod)).metadata).toMatchObject({ uid });
      expect((await core.readNamespacedPod(pod)).metadata?.deletionTimestamp).toBeUndefined();
      const node = await waitFor(async () => ((await core.readNode({ name: held })).spec?.unschedulable ? undefined : core.readNode({ name: held })), { what: `${held} uncordoned` });
      expect(Object.keys(node.metadata?.annotations ?? {}).filter((k) => k.startsWith('updates.updog.dev/'))).toEqual([]);
      expect(f.hosts[0]?.rebootRequests).toBe(0);
      const holdEvent = await waitFor(async () => (await events()).find((e) => e.reason === 'DisruptionHold'), { what: 'the DisruptionHold Event' });
      expect(holdEvent.message).toBe(`drain stopped before evicting anything; skipped until the annotation is removed: ${hold}`);
      // still held a while later (re-checked, not re-admitted)
      await new Promise((r) => setTimeout(r, 3000));
      expect((await f.nodeUpdates()).find((nu) => nu.metadata.name === held)?.status?.state).toBe('Idle');

      // the annotation goes: the node is updated and the pod evicted
      await core.patchNamespacedPod({ ...pod, body: { metadata: { annotations: { [KARPENTER]: null } } } }, MERGE_PATCH);
      await waitFor(async () => (await f.nodeUpdates()).every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === NEW), { what: 'both nodes on the new version', timeoutMs: 150_000 });
      await waitFor(async () => (await core.readNamespacedPod(pod).then((p) => p.metadata?.uid !== uid || p.metadata?.deletionTimestamp !== undefined, () => true)) || undefined, { what: 'the pod evicted' });
      const reasons = await waitFor(async () => {
        const seen = (await events()).map((e) => e.reason);
        return seen.includes('Updated') ? seen : undefined;
      }, { what: `the Updated Event of ${held}` });
      expect(reasons).toEqual(expect.arrayContaining(['DisruptionHold', 'DisruptionHoldReleased', 'Updated']));
      expect((await f.nodeUpdates()).every((nu) => !nu.status?.conditions?.some((c) => c.type === 'DisruptionHold'))).toBe(true);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    }
  });
});
