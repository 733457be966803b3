/**
 * Node groups on the real test cluster: two UpdatePolicies select disjoint nodes and roll at once,
 * each within its own budget; a node both select is a conflict reported on both and left alone.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { startControllerProcess } from '../../test/cluster/operator-stack.js';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { GROUP, UPDATE_POLICY, VERSION, type UpdatePolicy, type UpdatePolicySpec } from '../src/model/api.js';
import { NEW, OLD, useRolloutFixture } from './helpers/rollout-fixture.js';

const cluster = useTestCluster();
const core = cluster.kc.makeApiClient(CoreV1Api);
const custom = cluster.kc.makeApiClient(CustomObjectsApi);
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const IN_FLIGHT = ['Staging', 'Staged', 'Draining', 'Rebooting', 'Verifying'];

describe('node groups', () => {
  const fixture = useRolloutFixture(cluster, { id: 'groups', nodes: 7 });

  it('two policies roll their groups at once, each within its budget; a node in both is reported on both and left alone', { timeout: 300_000 }, async () => {
    const f = fixture();
    const groupOf = (i: number) => (i < 4 ? 'a' : i < 6 ? 'b' : 'both');
    for (const [i, name] of f.names.entries()) await core.patchNode({ name, body: { metadata: { labels: { 'groups.updog.dev/group': groupOf(i) } } } }, MERGE_PATCH);
    const conflicted = f.names[6]!;
    const members = { a: f.names.slice(0, 4), b: f.names.slice(4, 6) };
    const ref = (g: string) => ({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name: `${f.policyName}-${g}` });
    const policy = (g: 'a' | 'b', maxUnavailable: number): UpdatePolicy => {
      const spec: UpdatePolicySpec = {
        nodeSelector: { matchLabels: { [f.label.key]: f.label.value }, matchExpressions: [{ key: 'groups.updog.dev/group', operator: 'In', values: [g, 'both'] }] },
        maxUnavailable,
        healthGate: { soakSeconds: 2 },
        paused: true,
      };
      return { apiVersion: `${GROUP}/${VERSION}`, kind: 'UpdatePolicy', metadata: { name: ref(g).name }, spec };
    };
    await custom.createClusterCustomObject({ ...ref('a'), body: policy('a', 2) });
    await custom.createClusterCustomObject({ ...ref('b'), body: policy('b', 1) });
    const controller = startControllerProcess({ kubeconfigPath: cluster.kubeconfigPath, namespace: f.namespace, identity: 'groups-a', policy: [ref('a').name, ref('b').name] });
    const observed = { a: 0, b: 0, both: 0, samples: 0, conflictedTouched: 0 };
    let monitoring = true;
    try {
      await waitFor(
        async () => {
          const nus = await f.nodeUpdates();
          return nus.length === 6 && nus.every((nu) => nu.status?.currentVersion === OLD && nu.status.availableVersion === NEW);
        },
        { what: 'the 6 grouped nodes reporting, and no NodeUpdate for the conflicting node', timeoutMs: 60_000 },
      );
      const monitor = (async () => {
        while (monitoring) {
          const nus = await f.nodeUpdates();
          const inFlight = (names: string[]) => nus.filter((nu) => names.includes(nu.metadata.name) && IN_FLIGHT.includes(nu.status?.state ?? '')).length;
          const a = inFlight(members.a);
          const b = inFlight(members.b);
          observed.a = Math.max(observed.a, a);
          observed.b = Math.max(observed.b, b);
          if (a > 0 && b > 0) observed.both++;
          if (nus.some((nu) => nu.metadata.name === conflicted)) observed.conflictedTouched++;
          observed.samples++;
          await new Promise((r) => setTimeout(r, 150));
        }
      })();
      await custom.patchClusterCustomObject({ ...ref('a'), body: { spec: { paused: false } } }, MERGE_PATCH);
      await custom.patchClusterCustomObject({ ...ref('b'), body: { spec: { paused: false } } }, MERGE_PATCH);
      try {
        await waitFor(async () => (await f.nodeUpdates()).every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === NEW), {
          what: 'every grouped node Idle on the new version',
          timeoutMs: 200_000,
          intervalMs: 500,
        });
      } finally {
        monitoring = false;
        await monitor;
      }
      const status = async (g: string) => ((await custom.getClusterCustomObject(ref(g))) as UpdatePolicy).status;
      const done = { nodesUpdating: 0, conflicts: 1, conflictingNodes: [conflicted], paused: false };
      await waitFor(async () => (await status('a'))?.nodesUpToDate === 4 && (await status('b'))?.nodesUpToDate === 2, { what: 'both groups to report every node up to date' });
      expect(await status('a')).toMatchObject({ ...done, nodes: 4, nodesUpToDate: 4, maxUnavailable: 2 });
      expect(await status('b')).toMatchObject({ ...done, nodes: 2, nodesUpToDate: 2, maxUnavailable: 1 });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    } finally {
      monitoring = false;
      await controller.kill('SIGKILL');
      for (const g of ['a', 'b']) await custom.deleteClusterCustomObject(ref(g)).catch(() => undefined);
    }
    expect(observed.samples).toBeGreaterThan(20);
    expect(observed.a).toBe(2);
    expect(observed.b).toBe(1);
    // the groups rolled at the same time
    expect(observed.both).toBeGreaterThan(0);
    expect(observed.conflictedTouched).toBe(0);
    expect(f.hosts.map((h) => h.rebootRequests)).toEqual([1, 1, 1, 1, 1, 1, 0]);
    expect((await f.nodes()).find((n) => n.metadata?.name === conflicted)?.spec?.unschedulable).toBeFalsy();
  });
});
