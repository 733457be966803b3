/**
 * Acceptance on the real test cluster: drain deadline with an unsatisfiable PDB, leader failover
 * mid-drain, rollback + failure budget, and the agent admission policy.
 */
import { CoordinationV1Api, CoreV1Api, CoreV1Event, PatchStrategy, PolicyV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { createDeploymentWithPdb } from '../../test/cluster/workloads.js';
import { NEW, OLD, useRolloutFixture } from './helpers/rollout-fixture.js';
import type { NodeUpdate } from '../src/model/api.js';
import { UpdateApiClient } from '@updog-ts/updog/host-api';

const cluster = useTestCluster();
const core = cluster.kc.makeApiClient(CoreV1Api);
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const IN_FLIGHT = ['Staging', 'Staged', 'Draining', 'Rebooting', 'Verifying'];

async function eventsFor(namespace: string, name: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
}

function describeState(nus: NodeUpdate[]): string {
  return JSON.stringify(nus.map((nu) => [nu.metadata.name, nu.status?.state, nu.status?.currentVersion, nu.status?.lastFailure?.reason, nu.status?.lastFailure?.message]));
}

describe('a PDB that can never be satisfied', () => {
  const fixture = useRolloutFixture(cluster, { id: 'pdbstuck', nodes: 2 });

  it('hits the drain deadline, uncordons, names the PDB in the reason and frees the slot', { timeout: 240_000 }, async () => {
    const f = fixture();
    const [stuck, other] = f.names as [string, string];
    await createDeploymentWithPdb(cluster.kc, { namespace: f.namespace, name: 'singleton', replicas: 1, minAvailable: 1, nodeSelector: { 'kubernetes.io/hostname': stuck } });
    await waitFor(async () => (await core.listNamespacedPod({ namespace: f.namespace, labelSelector: 'app=singleton' })).items.some((p) => p.status?.phase === 'Running'), {
      what: 'the singleton pod running',
      timeoutMs: 60_000,
    });
    await waitFor(async () => (await cluster.kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'singleton', namespace: f.namespace })).status?.currentHealthy === 1, {
      what: 'the PDB to count the pod',
    });
    await f.setPolicy({ paused: true, maxUnavailable: 1, healthGate: { soakSeconds: 1 }, drain: { podTimeoutSeconds: 8, timeoutSeconds: 60, escalation: 'GiveUp' }, failureBudget: { maxFailures: 3 } });
    const controller = f.startController('pdb-a');
    await f.awaitAgentReports();
    await f.patchPolicy({ paused: false });

    let maxInFlight = 0;
    const done = await waitFor(
      async () => {
        const nus = await f.nodeUpdates();
        maxInFlight = Math.max(maxInFlight, nus.filter((nu) => IN_FLIGHT.includes(nu.status?.state ?? '')).length);
        const s = nus.find((nu) => nu.metadata.name === stuck);
        const o = nus.find((nu) => nu.metadata.name === other);
        return s?.status?.state === 'Failed' && o?.status?.state === 'Idle' && o.status.currentVersion === NEW ? { s, o } : undefined;
      },
      { what: 'the blocked node Failed and the other one updated', timeoutMs: 180_000, intervalMs: 300 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${describeState(await f.nodeUpdates())}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    });

    expect(maxInFlight).toBe(1);
    const failure = done.s.status!.lastFailure!;
    expect(failure.reason).toBe('DrainBlocked');
    expect(failure.version).toBe(NEW);
    expect(failure.message).toMatch(new RegExp(`^pod deadline of 8s passed: pod ${f.namespace}/singleton-\\S+ not evicted by PodDisruptionBudget singleton \\(Cannot evict pod`));
    expect(done.s.status!.conditions).toEqual([expect.objectContaining({ type: 'DrainBlocked', status: 'True', reason: 'PodDisruptionBudget', message: failure.message })]);
    expect(done.s.status!.attempts).toBe(1);
    expect(Date.parse(done.s.status!.nextAttemptAt!) - Date.parse(failure.time)).toBe(120_000);
    expect(done.s.status!.currentVersion).toBe(OLD);
    expect(done.s.spec).toEqual({ desiredState: 'Idle' });
    const node = await core.readNode({ name: stuck });
    expect(node.spec?.unschedulable).toBeFalsy();
    expect(node.metadata?.annotations?.['updates.updog.dev/cordoned-before-update']).toBeUndefined();
    // the pod was never evicted
    expect((await core.listNamespacedPod({ namespace: f.namespace, labelSelector: 'app=singleton' })).items.map((p) => p.spec?.nodeName)).toEqual([stuck]);
    const events = await eventsFor('default', stuck);
    expect(events.filter((e) => e.reason === 'DrainBlocked').map((e) => [e.type, e.message])).toEqual([['Warning', failure.message]]);
  });
});

describe('a node that never comes back', () => {
  const fixture = useRolloutFixture(cluster, { id: 'hung', nodes: 2, hungNodes: ['hung-1'] });

  it('is Failed at the reboot deadline with the reason, uncordoned, and its slot goes to the next node', { timeout: 180_000 }, async () => {
    const f = fixture();
    await f.setPolicy({ paused: true, healthGate: { soakSeconds: 1 }, deadlines: { rebootSeconds: 8 }, failureBudget: { maxFailures: 2 } });
    const controller = f.startController('hung-a');
    await f.awaitAgentReports();
    await f.patchPolicy({ paused: false });
    const done = await waitFor(
      async () => {
        const [hung, next] = await f.nodeUpdates();
        return hung?.status?.state === 'Failed' && next?.status?.state === 'Idle' && next.status.currentVersion === NEW ? hung : undefined;
      },
      { what: 'hung-1 Failed and hung-2 updated', timeoutMs: 120_000, intervalMs: 300 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${describeState(await f.nodeUpdates())}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    });
    expect(done.status?.lastFailure).toMatchObject({ reason: 'RebootTimeout', version: NEW, message: `node not Ready on ${NEW} within 8s (Ready=true, running ${OLD})` });
    expect(done.status?.attempts).toBe(1);
    expect(done.status?.nextAttemptAt).toBeDefined();
    expect((await core.readNode({ name: 'hung-1' })).spec?.unschedulable).toBeFalsy();
    // the update called off is deactivated: the next unrelated reboot boots the old version
    const hungApi = new UpdateApiClient(f.hosts[0]!.api.socketPath);
    await waitFor(async () => (await hungApi.status()).updateState === 'Staged', { what: 'hung-1 deactivated', timeoutMs: 30_000 });
    const hungHost = await hungApi.status();
    expect(hungHost.activePartition).toMatchObject({ image: { version: OLD }, nextToBoot: true });
    expect(hungHost.stagingPartition).toMatchObject({ image: { version: NEW }, nextToBoot: false });
    const hungNu = (await f.nodeUpdates())[0]!;
    expect(hungNu.spec.desiredState).toBe('Idle');
    expect(hungNu.status).toMatchObject({ observedGeneration: hungNu.metadata.generation, hostState: 'Staged' });
    expect(f.hosts.map((h) => h.rebootRequests)).toEqual([1, 1]);
  });
});

describe('escalation ForceDeleteAfter', () => {
  const fixture = useRolloutFixture(cluster, { id: 'forcedel', nodes: 1 });

  it('deletes a PDB-protected pod at its deadline and completes the update', { timeout: 180_000 }, async () => {
    const f = fixture();
    const [only] = f.names as [string];
    await createDeploymentWithPdb(cluster.kc, { namespace: f.namespace, name: 'guarded', replicas: 1, minAvailable: 1, nodeSelector: { 'kubernetes.io/hostname': only } });
    await waitFor(async () => (await cluster.kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'guarded', namespace: f.namespace })).status?.currentHealthy === 1, {
      what: 'the PDB to count the pod',
      timeoutMs: 60_000,
    });
    const original = (await core.listNamespacedPod({ namespace: f.namespace, labelSelector: 'app=guarded' })).items[0]!;
    await f.setPolicy({ paused: true, healthGate: { soakSeconds: 1 }, drain: { podTimeoutSeconds: 6, timeoutSeconds: 120, escalation: 'ForceDeleteAfter' } });
    const controller = f.startController('force-a');
    await f.awaitAgentReports();
    await f.patchPolicy({ paused: false });
    await waitFor(async () => (await f.nodeUpdates()).every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === NEW), {
      what: `${only} updated`,
      timeoutMs: 120_000,
      intervalMs: 500,
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${describeState(await f.nodeUpdates())}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    });
    const forced = controller.log().split('\n').filter((l) => l.includes('force-deleting pod past its deadline'));
    expect(forced).toHaveLength(1);
    expect(JSON.parse(forced[0]!)).toMatchObject({ node: only, pod: `${f.namespace}/${original.metadata?.name}`, pdb: 'guarded' });
    const pods = (await core.listNamespacedPod({ namespace: f.namespace, labelSelector: 'app=guarded' })).items;
    expect(pods.map((p) => p.metadata?.uid)).not.toContain(original.metadata?.uid);
    expect((await core.readNode({ name: only })).spec?.unschedulable).toBeFalsy();
  });
});

describe('leader failover in the middle of a drain', () => {
  const fixture = useRolloutFixture(cluster, { id: 'failover', nodes: 2 });

  it('the other replica takes over within the lease time and finishes the same drain once', { timeout: 240_000 }, async () => {
    const f = fixture();
    const [first] = f.names as [string, string];
    await createDeploymentWithPdb(cluster.kc, { namespace: f.namespace, name: 'held', replicas: 1, minAvailable: 1, nodeSelector: { 'kubernetes.io/hostname': first } });
    await waitFor(async () => (await cluster.kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'held', namespace: f.namespace })).status?.currentHealthy === 1, {
      what: 'the PDB to count the pod',
      timeoutMs: 60_000,
    });
    await f.setPolicy({ paused: true, maxUnavailable: 1, healthGate: { soakSeconds: 1 }, drain: { podTimeoutSeconds: 600, timeoutSeconds: 600, escalation: 'None' } });
    const leases = cluster.kc.makeApiClient(CoordinationV1Api);
    const holder = async () => (await leases.readNamespacedLease({ name: 'update-operator-controller', namespace: f.namespace })).spec?.holderIdentity;
    const a = f.startController('replica-a');
    await waitFor(async () => (await holder()) === 'replica-a', { what: 'replica-a to lead', timeoutMs: 30_000 });
    const b = f.startController('replica-b');
    await f.awaitAgentReports();
    await f.patchPolicy({ paused: false });

    // watch the whole run: never more than one node in flight, one Draining phase per node
    const drainingSince = new Map<string, Set<string>>();
    let maxInFlight = 0;
    let monitoring = true;
    const monitor = (async () => {
      while (monitoring) {
        const nus = await f.nodeUpdates();
        maxInFlight = Math.max(maxInFlight, nus.filter((nu) => IN_FLIGHT.includes(nu.status?.state ?? '')).length);
        for (const nu of nus) {
          if (nu.status?.state === 'Draining') drainingSince.set(nu.metadata.name, (drainingSince.get(nu.metadata.name) ?? new Set()).add(nu.status.stateSince ?? ''));
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    try {
      await waitFor(() => a.log().includes('eviction refused; retrying'), { what: 'replica-a draining against the PDB', timeoutMs: 90_000 });
      expect((await f.nodeUpdates()).find((nu) => nu.metadata.name === first)?.status?.state).toBe('Draining');

      await a.kill('SIGKILL');
      // lease 4 s + a 1 s retry period; the bound is generous for a loaded machine
      await waitFor(async () => (await holder()) === 'replica-b', { what: 'replica-b to take the lease within the lease time', timeoutMs: 15_000, intervalMs: 100 });
      await waitFor(() => b.log().includes('eviction refused; retrying'), { what: 'replica-b resuming the drain', timeoutMs: 30_000 });
      // now let the PDB allow the eviction
      await cluster.kc.makeApiClient(PolicyV1Api).patchNamespacedPodDisruptionBudget({ name: 'held', namespace: f.namespace, body: { spec: { minAvailable: 0 } } }, MERGE_PATCH);

      await waitFor(
        async () => {
          const nus = await f.nodeUpdates();
          return nus.length === 2 && nus.every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === NEW);
        },
        { what: 'both nodes updated after the takeover', timeoutMs: 150_000, intervalMs: 500 },
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${describeState(await f.nodeUpdates())}\n${b.log().split('\n').slice(-10).join('\n')}`);
      });
    } finally {
      monitoring = false;
      await monitor;
    }
    expect(maxInFlight).toBe(1);
    // the drained node kept one Draining phase across the takeover (an empty node may drain between samples)
    expect(drainingSince.get(first)?.size).toBe(1);
    expect([...drainingSince.values()].every((s) => s.size === 1)).toBe(true);
    const drainingEvents = (await eventsFor('default', first)).filter((e) => e.reason === 'Draining');
    expect(drainingEvents).toHaveLength(1);
    expect(b.log()).toMatch(/"msg":"became leader"/);
    expect(b.log()).toContain(`"node":"${first}"`);
  });
});

describe('an image that fails its health check', () => {
  const fixture = useRolloutFixture(cluster, { id: 'badimage', nodes: 3, badRelease: true });

  it('rolls back, is reported Failed with the reason, pauses the rollout after the budget, and resumes on reset', { timeout: 300_000 }, async () => {
    const f = fixture();
    const [n1, n2, n3] = f.names as [string, string, string];
    await f.setPolicy({ paused: true, maxUnavailable: 1, healthGate: { soakSeconds: 1 }, failureBudget: { maxFailures: 1 } });
    const controller = f.startController('bad-a');
    await f.awaitAgentReports();
    await f.patchPolicy({ paused: false });
    const failed1 = await waitFor(async () => (await f.nodeUpdates()).find((nu) => nu.metadata.name === n1 && nu.status?.state === 'Failed'), {
      what: `${n1} Failed`,
      timeoutMs: 150_000,
      intervalMs: 300,
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${describeState(await f.nodeUpdates())}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    });
    expect(failed1.status?.lastFailure).toMatchObject({ reason: 'RolledBack', version: NEW });
    expect(failed1.status?.nextAttemptAt).toBeUndefined();
    await waitFor(async () => (await f.nodeUpdates()).find((nu) => nu.metadata.name === n1)?.status?.currentVersion === OLD, { what: `${n1} back on ${OLD}` });
    // the update's reboot, then the agent's reboot to fall back from the unhealthy image
    expect(f.hosts[0]?.rebootRequests).toBe(2);
    expect((await core.readNode({ name: n1 })).spec?.unschedulable).toBeFalsy();

    const policyStatus = async () =>
      ((await cluster.kc.makeApiClient((await import('@kubernetes/client-node')).CustomObjectsApi).getClusterCustomObject({ group: 'updates.updog.dev', version: 'v1alpha1', plural: 'updatepolicies', name: f.policyName })) as { status?: Record<string, unknown> }).status;
    await waitFor(async () => (await policyStatus())?.['pausedReason'] === 'FailureBudgetExhausted', { what: 'the policy to report the pause' });
    expect(await policyStatus()).toMatchObject({ paused: true, pausedReason: 'FailureBudgetExhausted', failures: 1, nodesUpdating: 0, maxUnavailable: 1 });
    const metrics = await controller.metrics();
    expect(metrics).toContain('update_operator_failures_total{reason="RolledBack"} 1');
    expect(metrics).toContain('update_operator_paused 1');
    // paused: the budget admits nobody else
    expect((await f.nodeUpdates()).map((nu) => [nu.metadata.name, nu.status?.state])).toEqual([[n1, 'Failed'], [n2, 'Idle'], [n3, 'Idle']]);

    await f.patchPolicy({ failureBudget: { maxFailures: 1, resetAt: new Date().toISOString() } });
    const resumed = await waitFor(async () => (await f.nodeUpdates()).find((nu) => nu.metadata.name === n2 && nu.status?.state !== 'Idle'), {
      what: `${n2} admitted after the reset`,
      timeoutMs: 30_000,
    });
    expect(IN_FLIGHT).toContain(resumed.status?.state);
  });
});
