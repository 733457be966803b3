/**
 * The shipped RBAC and ValidatingAdmissionPolicy on the real apiserver: an agent's token (bound to
 * its node, as a DaemonSet pod's is) may write its own node's NodeUpdate status and nothing else.
 */
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedFleet, type SimulatedFleet } from '../../test/cluster/fleet.js';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { nodeUpdateStore } from '../src/agent/node-update-store.js';
import { KubeClient } from '../src/common/kube-client.js';
import { Kube } from '../src/controller/kube.js';
import { AGENT_SA, DEFAULT_MANIFEST_OPTIONS, operatorObjects } from '../src/deploy/manifests.js';
import { GROUP, NODE_UPDATE, VERSION, type NodeUpdate } from '../src/model/api.js';
import { installCrds } from './helpers/rollout-fixture.js';

const cluster = useTestCluster();
const NAMESPACE = 'uo-admission';
const objects = operatorObjects({ ...DEFAULT_MANIFEST_OPTIONS, namespace: NAMESPACE }).filter(
  (o) => ['ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(o['kind'] as string) && (o['metadata'] as { name: string }).name.startsWith(AGENT_SA),
);
const model = (o: Record<string, unknown>) => ObjectSerializer.deserialize(o, `V1${o['kind'] as string}`, '');

describe('agent admission policy', () => {
  let fleet: SimulatedFleet;
  const rbac = cluster.kc.makeApiClient(RbacAuthorizationV1Api);
  const admission = cluster.kc.makeApiClient(AdmissionregistrationV1Api);
  beforeAll(async () => {
    await installCrds(cluster);
    // other test files may have installed the same cluster-scoped objects: replace them with ours
    for (const o of objects) {
      const body = model(o);
      const name = (o['metadata'] as { name: string }).name;
      if (o['kind'] === 'ClusterRole') await rbac.deleteClusterRole({ name }).catch(() => undefined).then(() => rbac.createClusterRole({ body }));
      if (o['kind'] === 'ClusterRoleBinding') await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined).then(() => rbac.createClusterRoleBinding({ body }));
      if (o['kind'] === 'ValidatingAdmissionPolicy') await admission.deleteValidatingAdmissionPolicy({ name }).catch(() => undefined).then(() => admission.createValidatingAdmissionPolicy({ body }));
      if (o['kind'] === 'ValidatingAdmissionPolicyBinding') await admission.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => undefined).then(() => admission.createValidatingAdmissionPolicyBinding({ body }));
    }
    fleet = await startSimulatedFleet(cluster, { names: ['vap-a', 'vap-b'], version: '1.0.0', labels: { 'rollout.updog.dev/test': 'vap' } });
  });
  afterAll(async () => {
    const name = `${AGENT_SA}-own-node`;
    await admission.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name }).catch(() => undefined);
    await rbac.deleteClusterRoleBinding({ name: AGENT_SA }).catch(() => undefined);
    await rbac.deleteClusterRole({ name: AGENT_SA }).catch(() => undefined);
    const custom = cluster.kc.makeApiClient(CustomObjectsApi);
    for (const name of ['vap-a', 'vap-b']) await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name }).catch(() => undefined);
    await cluster.kc.makeApiClient(CoreV1Api).deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    await fleet?.stop();
  });

  it('lets an agent write its own node status only', async () => {
    const kube = new Kube(new KubeClient(cluster.kc));
    const core = cluster.kc.makeApiClient(CoreV1Api);
    for (const name of ['vap-a', 'vap-b']) await kube.createNodeUpdate({ name, uid: (await core.readNode({ name })).metadata?.uid ?? '' });
    const token = await cluster.createNodeServiceAccountToken('vap-a', { namespace: NAMESPACE, serviceAccount: AGENT_SA });
    const agentKc = cluster.kubeConfigForToken(token);
    const own = nodeUpdateStore(new KubeClient(agentKc), 'vap-a');
    const other = nodeUpdateStore(new KubeClient(agentKc), 'vap-b');

    const writeOther = async () => {
      try {
        await other.patchStatus({ currentVersion: '6.6.6' });
        return undefined;
      } catch (err) {
        return err as { code: number; message: string };
      }
    };
    // the policy takes effect a moment after it is created (a probe may get through before)
    await waitFor(writeOther, { what: 'the admission policy to reject a write to another node', timeoutMs: 30_000, intervalMs: 500 });
    await kube.patchNodeUpdateStatus('vap-b', { currentVersion: null });
    const rejection = await writeOther();
    expect(rejection?.code).toBe(403);
    expect(rejection?.message).toContain("the update-operator agent may only write the status of its own node's NodeUpdate (token node: vap-a, object: vap-b)");

    await own.patchStatus({ currentVersion: '1.0.0', hostState: 'Idle' });
    expect((await own.get())?.status).toMatchObject({ currentVersion: '1.0.0', hostState: 'Idle' });
    const vapB = (await cluster.kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name: 'vap-b' })) as NodeUpdate;
    expect(vapB.status?.currentVersion).toBeUndefined();

    // the spec is the controller's: RBAC refuses the agent before admission
    const spec = cluster.kc.makeApiClient(CustomObjectsApi);
    const agentCustom = agentKc.makeApiClient(CustomObjectsApi);
    await expect(
      agentCustom.patchClusterCustomObject(
        { group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name: 'vap-a', body: { spec: { desiredState: 'Rebooted', targetVersion: '9.9.9' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    ).rejects.toMatchObject({ code: 403 });
    expect(((await spec.getClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name: 'vap-a' })) as { spec: unknown }).spec).toEqual({ desiredState: 'Idle' });
  });
});
