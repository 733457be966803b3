/**
 * Acceptance on the real test cluster: a 5-node rollout with the real agent, host update API and
 * boot model; budget, PDB and admin cordon checked continuously.
 */
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { createDaemonSet, createDeploymentWithPdb } from '../../test/cluster/workloads.js';
import { OS_VERSION_LABEL } from '../../test/cluster/sim-node.js';
import { NEW, useRolloutFixture } from './helpers/rollout-fixture.js';

const cluster = useTestCluster();
const LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
const core = cluster.kc.makeApiClient(CoreV1Api);
const apps = cluster.kc.makeApiClient(AppsV1Api);

describe('rollout across 5 simulated nodes', () => {
  const fixture = useRolloutFixture(cluster, { id: 'roll5', nodes: 5 });

  it('updates every node within the budget, keeps the PDB minimum, leaves an admin cordon alone', { timeout: 300_000 }, async () => {
    const f = fixture();
    const ns = f.namespace;
    const nodeSelector = { [f.label.key]: f.label.value };
    await createDeploymentWithPdb(cluster.kc, { namespace: ns, name: 'web', replicas: 4, minAvailable: 3, nodeSelector });
    await createDaemonSet(cluster.kc, { namespace: ns, name: 'node-agentish', nodeSelector });
    const readyWeb = async () => {
      const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
      return pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    };
    await waitFor(async () => (await readyWeb()) === 4, { what: '4 web pods Ready', timeoutMs: 60_000 });
    await waitFor(async () => (await apps.readNamespacedDaemonSet({ name: 'node-agentish', namespace: ns })).status?.numberReady === 5, {
      what: 'a Ready DaemonSet pod on each of the 5 nodes',
      timeoutMs: 60_000,
    });

    // the admin cordons the last node before the rollout
    const adminCordoned = f.names[4]!;
    await core.patchNode({ name: adminCordoned, body: { spec: { unschedulable: true } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));

    // paused until every agent has reported, so the first admission sees the whole fleet
    await f.setPolicy({ paused: true, maxUnavailable: 2, healthGate: { soakSeconds: 2 }, drain: { podTimeoutSeconds: 120, timeoutSeconds: 240 }, excludeFromLoadBalancers: true });

    const observed = { maxCordoned: 0, maxInFlight: 0, minReadyWeb: 4, samples: 0, excludedFromLb: new Set<string>(), cordonedInLb: 0 };
    let monitoring = true;
    const monitor = (async () => {
      while (monitoring) {
        const [nodes, nus, ready] = await Promise.all([f.nodes(), f.nodeUpdates(), readyWeb()]);
        // cordoned for the update: carries the operator's prior-cordon annotation (the admin's node too while it updates)
        const cordonedForUpdate = nodes.filter((n) => n.metadata?.annotations?.['updates.updog.dev/cordoned-before-update'] !== undefined).length;
        const cordonedOthers = nodes.filter((n) => n.spec?.unschedulable && n.metadata?.name !== adminCordoned).length;
        const inFlight = nus.filter((nu) => ['Staging', 'Staged', 'Draining', 'Rebooting', 'Verifying'].includes(nu.status?.state ?? '')).length;
        observed.maxCordoned = Math.max(observed.maxCordoned, cordonedForUpdate, cordonedOthers);
        for (const n of nodes) {
          const inLb = n.metadata?.labels?.[LB_LABEL] === undefined;
          if (!inLb) observed.excludedFromLb.add(n.metadata?.name ?? '');
          // a node the operator cordoned is out of the load balancers too
          if (inLb && n.metadata?.annotations?.['updates.updog.dev/cordoned-before-update'] !== undefined && n.metadata?.annotations?.['updates.updog.dev/excluded-from-lb-before-update'] !== undefined) observed.cordonedInLb++;
        }
        observed.maxInFlight = Math.max(observed.maxInFlight, inFlight);
        observed.minReadyWeb = Math.min(observed.minReadyWeb, ready);
        observed.samples++;
        await new Promise((r) => setTimeout(r, 150));
      }
    })();

    const controller = f.startController('replica-a');
    await f.awaitAgentReports();
    await f.patchPolicy({ paused: false });
    try {
      await waitFor(
        async () => {
          const nus = await f.nodeUpdates();
          return nus.length === 5 && nus.every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === NEW);
        },
        { what: 'every node Idle on the new version', timeoutMs: 240_000, intervalMs: 500 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nstates: ${JSON.stringify((await f.nodeUpdates()).map((nu) => [nu.metadata.name, nu.status?.state, nu.status?.currentVersion, nu.status?.lastFailure?.message]))}\ncontroller log tail:\n${controller.log().split('\n').slice(-15).join('\n')}`);
    } finally {
      monitoring = false;
      await monitor;
    }

    expect(observed.samples).toBeGreaterThan(20);
    expect(observed.maxInFlight).toBe(2);
    expect(observed.maxCordoned).toBeGreaterThan(0);
    expect(observed.maxCordoned).toBeLessThanOrEqual(2);
    expect(observed.minReadyWeb).toBeGreaterThanOrEqual(3);
    expect(observed.cordonedInLb).toBe(0);
    expect(observed.excludedFromLb.size).toBeGreaterThan(0);

    const nodes = await f.nodes();
    expect(nodes.map((n) => n.metadata?.labels?.[OS_VERSION_LABEL])).toEqual([NEW, NEW, NEW, NEW, NEW]);
    expect(nodes.map((n) => n.spec?.unschedulable === true)).toEqual([false, false, false, false, true]);
    expect(nodes.map((n) => n.metadata?.labels?.[LB_LABEL])).toEqual([undefined, undefined, undefined, undefined, undefined]);
    // our bookkeeping annotations are gone again
    expect(nodes.every((n) => Object.keys(n.metadata?.annotations ?? {}).every((k) => !k.startsWith('updates.updog.dev/')))).toBe(true);
    const nus = await f.nodeUpdates();
    expect(nus.map((nu) => [nu.spec.desiredState, nu.status?.attempts, nu.status?.stagedVersion ?? null])).toEqual(Array(5).fill(['Idle', 0, null]));
    expect(nus.every((nu) => nu.metadata.ownerReferences?.[0]?.kind === 'Node')).toBe(true);
    // one reboot per node, though every agent refreshed while its reboot was pending (a second
    // request would use up the new image's single boot try)
    expect(f.hosts.map((h) => h.rebootRequests)).toEqual([1, 1, 1, 1, 1]);

    // metrics: every node counted on the new version
    const text = await controller.metrics();
    expect(text).toContain(`update_operator_nodes{state="Idle",version="${NEW}"} 5`);
    expect(text).toContain('update_operator_leader 1');
    expect(text).toMatch(/update_operator_drain_duration_seconds_count\{result="ok"\} 5/);
  });
});
