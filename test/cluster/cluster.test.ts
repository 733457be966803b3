/**
 * Proves the test cluster is real: controller-manager, PDB enforcement by the apiserver, Lease
 * concurrency, service-account node binding with ValidatingAdmissionPolicy, and simulated node
 * reboots through the gptprio boot model. Needs dist/ (the signpost bin): run `npm run build` first.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  Watch,
  setHeaderOptions,
  V1MicroTime,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { Signpost } from '@updog-ts/updog/disk';
import type { TestCluster } from './cluster.js';
import { startSimulatedFleet, type SimulatedFleet } from './fleet.js';
import { isNodeReady } from './node-fit.js';
import { writeFakeImageSet } from './sim-host.js';
import { BOOTED_SET_ANNOTATION, OS_VERSION_LABEL } from './sim-node.js';
import { useTestCluster } from './vitest-cluster.js';
import { waitFor } from './wait.js';
import { createBarePod, createDaemonSet, createDeploymentWithPdb, createPodWithEmptyDir, ensureNamespace } from './workloads.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let cluster: TestCluster;
let core: CoreV1Api;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(() => {
  cluster = useTestCluster();
  core = cluster.kc.makeApiClient(CoreV1Api);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh name per test so tests never see each other's objects. */
function unique(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Simulated nodes labelled `test-group=<group>`, stopped after the test. */
async function fleet(group: string, count: number, version = '1.0.0'): Promise<SimulatedFleet> {
  const f = await startSimulatedFleet(cluster, { names: Array.from({ length: count }, (_, i) => `${group}-n${i}`), version, labels: { 'test-group': group } });
  cleanups.push(() => f.stop());
  return f;
}

async function namespace(name: string): Promise<string> {
  await ensureNamespace(cluster.kc, name);
  cleanups.push(() => core.deleteNamespace({ name }).catch(() => undefined));
  return name;
}

async function runningReadyPods(ns: string, selector: string, count: number): Promise<V1Pod[]> {
  return waitFor(
    async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(
        (p) => p.metadata?.deletionTimestamp === undefined && p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return pods.length === count ? pods : undefined;
    },
    { what: `${count} Running and Ready pods matching ${selector} in ${ns}`, timeoutMs: 60_000 },
  );
}

describe('test cluster', () => {
  it('controller-manager creates a Deployment\'s pods and the binder places them on simulated nodes', async () => {
    const group = unique('deploy');
    const f = await fleet(group, 2);
    const ns = await namespace(group);
    await createDeploymentWithPdb(cluster.kc, { namespace: ns, name: 'web', replicas: 3, maxUnavailable: 1, nodeSelector: { 'test-group': group } });

    const pods = await runningReadyPods(ns, 'app=web', 3);
    const apps = cluster.kc.makeApiClient(AppsV1Api);
    const [rs] = (await apps.listNamespacedReplicaSet({ namespace: ns })).items;
    expect(rs?.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}`)).toEqual(['Deployment/web']);
    for (const pod of pods) {
      expect(pod.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}`)).toEqual([`ReplicaSet/${rs?.metadata?.name}`]);
    }
    // least-loaded placement on the test's two nodes: 2 + 1
    const perNode = new Map<string, number>();
    for (const pod of pods) perNode.set(pod.spec?.nodeName ?? '', (perNode.get(pod.spec?.nodeName ?? '') ?? 0) + 1);
    expect([...perNode.keys()].sort()).toEqual(f.members.map((m) => m.node.name).sort());
    expect([...perNode.values()].sort()).toEqual([1, 2]);
  });

  it('DaemonSet pods run on every test node, cordoned or not; other pods avoid the cordoned node; deletions finish', async () => {
    const group = unique('ds');
    const f = await fleet(group, 2);
    const [open, cordoned] = f.members.map((m) => m.node.name) as [string, string];
    await core.patchNode({ name: cordoned, body: { spec: { unschedulable: true } } }, MERGE_PATCH);
    const ns = await namespace(group);
    const nodeSelector = { 'test-group': group };
    await createDaemonSet(cluster.kc, { namespace: ns, name: 'agent', nodeSelector });
    await createBarePod(cluster.kc, { namespace: ns, name: 'bare', nodeSelector });
    await createPodWithEmptyDir(cluster.kc, { namespace: ns, name: 'scratch', nodeSelector });

    const daemons = await runningReadyPods(ns, 'app=agent', 2);
    expect(daemons.map((p) => p.spec?.nodeName).sort()).toEqual([open, cordoned].sort());
    const [bare] = await runningReadyPods(ns, 'app=bare', 1);
    const [scratch] = await runningReadyPods(ns, 'app=scratch', 1);
    expect([bare?.spec?.nodeName, scratch?.spec?.nodeName]).toEqual([open, open]);
    expect(scratch?.spec?.volumes?.find((v) => v.name === 'scratch')?.emptyDir).toEqual({});

    // a graceful deletion (30 s grace period) is finished by the simulated kubelet
    await core.deleteNamespacedPod({ name: 'bare', namespace: ns });
    await waitFor(async () => (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=bare' })).items.length === 0, { what: 'pod bare to be gone' });
  });

  it('the apiserver refuses with 429 to evict a pod whose PDB allows no disruption, and evicts once it does', async () => {
    const group = unique('pdb');
    await fleet(group, 2);
    const ns = await namespace(group);
    await createDeploymentWithPdb(cluster.kc, { namespace: ns, name: 'db', replicas: 2, minAvailable: 2, nodeSelector: { 'test-group': group } });
    const [victim] = await runningReadyPods(ns, 'app=db', 2);
    const policy = cluster.kc.makeApiClient(PolicyV1Api);
    // the disruption controller (controller-manager) computes the budget
    await waitFor(
      async () => {
        const s = (await policy.readNamespacedPodDisruptionBudget({ name: 'db', namespace: ns })).status;
        return s?.currentHealthy === 2 && s.disruptionsAllowed === 0 && s.observedGeneration === 1;
      },
      { what: 'PDB db status: 2 healthy, 0 disruptions allowed' },
    );

    const evict = (): Promise<unknown> =>
      core.createNamespacedPodEviction({
        name: victim!.metadata!.name!,
        namespace: ns,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: victim!.metadata!.name!, namespace: ns } },
      });
    const refused = (await evict().then(
      () => undefined,
      (err: unknown) => err,
    )) as { code?: number; body?: string };
    expect(refused.code).toBe(429);
    expect(JSON.parse(refused.body ?? '{}')).toMatchObject({
      kind: 'Status',
      reason: 'TooManyRequests',
      code: 429,
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget db needs 2 healthy pods and has 2 currently' }] },
    });

    await policy.patchNamespacedPodDisruptionBudget({ name: 'db', namespace: ns, body: { spec: { minAvailable: 1 } } }, MERGE_PATCH);
    await waitFor(async () => (await policy.readNamespacedPodDisruptionBudget({ name: 'db', namespace: ns })).status?.disruptionsAllowed === 1, {
      what: 'PDB db to allow 1 disruption',
    });
    await evict();
    // the simulated kubelet finishes the graceful deletion; the ReplicaSet replaces the pod
    await waitFor(async () => (await core.listNamespacedPod({ namespace: ns })).items.every((p) => p.metadata?.uid !== victim!.metadata!.uid), {
      what: `evicted pod ${victim!.metadata!.name} to be gone`,
    });
    const after = await runningReadyPods(ns, 'app=db', 2);
    expect(after.map((p) => p.metadata?.uid)).not.toContain(victim!.metadata!.uid);
  });

  it('a Lease is acquired, defended by resourceVersion, and taken over after it expires', async () => {
    const ns = await namespace(unique('lease'));
    const leases = cluster.kc.makeApiClient(CoordinationV1Api);
    // Lease times are metav1.MicroTime: a plain Date serializes with milliseconds and gets a 400
    const acquired = await leases.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'replica-a', leaseDurationSeconds: 2, acquireTime: new V1MicroTime(), renewTime: new V1MicroTime(), leaseTransitions: 0 } },
    });
    // a second candidate cannot create the same lease
    const duplicate = (await leases
      .createNamespacedLease({ namespace: ns, body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'replica-b' } } })
      .catch((err: { code?: number }) => err)) as { code?: number };
    expect(duplicate.code).toBe(409);

    // replica-b waits for expiry as measured from renewTime, then takes over with the observed resourceVersion
    const observed = await waitFor(
      async () => {
        const lease = await leases.readNamespacedLease({ name: 'leader', namespace: ns });
        // client-node hands MicroTime fields back as strings despite the Date type
        const renew = new Date((lease.spec?.renewTime ?? 0) as unknown as string).getTime();
        return Date.now() > renew + (lease.spec?.leaseDurationSeconds ?? 0) * 1000 ? lease : undefined;
      },
      { what: 'lease leader to expire' },
    );
    const takeover = await leases.replaceNamespacedLease({
      name: 'leader',
      namespace: ns,
      body: { ...observed, spec: { ...observed.spec, holderIdentity: 'replica-b', acquireTime: new V1MicroTime(), renewTime: new V1MicroTime(), leaseTransitions: 1 } },
    });
    expect(takeover.spec?.holderIdentity).toBe('replica-b');
    expect(takeover.spec?.leaseTransitions).toBe(1);

    // replica-a's late renewal, based on the version it last saw, is refused
    const stale = (await leases
      .replaceNamespacedLease({ name: 'leader', namespace: ns, body: { ...acquired, spec: { ...acquired.spec, acquireTime: new V1MicroTime(), renewTime: new V1MicroTime() } } })
      .catch((err: { code?: number }) => err)) as { code?: number };
    expect(stale.code).toBe(409);
    expect((await leases.readNamespacedLease({ name: 'leader', namespace: ns })).spec?.holderIdentity).toBe('replica-b');
  });

  it("a ValidatingAdmissionPolicy on the token's node-name claim stops node X's agent from patching node Y", async () => {
    const group = unique('vap');
    const f = await fleet(group, 2);
    const [x, y] = f.members.map((m) => m.node.name) as [string, string];
    const ns = await namespace(group);
    const rbac = cluster.kc.makeApiClient(RbacAuthorizationV1Api);
    const admission = cluster.kc.makeApiClient(AdmissionregistrationV1Api);
    await rbac.createClusterRole({ body: { metadata: { name: group }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] }] } });
    cleanups.push(() => rbac.deleteClusterRole({ name: group }));
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: group },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: group },
        subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: ns }],
      },
    });
    cleanups.push(() => rbac.deleteClusterRoleBinding({ name: group }));
    const claim = 'authentication.kubernetes.io/node-name';
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: group },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'] }] },
          matchConditions: [{ name: 'node-bound-agent', expression: `request.userInfo.username == "system:serviceaccount:${ns}:agent"` }],
          validations: [
            {
              expression: `"${claim}" in request.userInfo.extra && request.userInfo.extra["${claim}"][0] == object.metadata.name`,
              messageExpression: `"agent of node " + ("${claim}" in request.userInfo.extra ? request.userInfo.extra["${claim}"][0] : "?") + " may only change its own node, not " + object.metadata.name`,
              reason: 'Forbidden',
            },
          ],
        },
      },
    });
    cleanups.push(() => admission.deleteValidatingAdmissionPolicy({ name: group }));
    await admission.createValidatingAdmissionPolicyBinding({ body: { metadata: { name: group }, spec: { policyName: group, validationActions: ['Deny'] } } });
    cleanups.push(() => admission.deleteValidatingAdmissionPolicyBinding({ name: group }));

    const token = await cluster.createNodeServiceAccountToken(x, { namespace: ns, serviceAccount: 'agent' });
    const agentKc = cluster.kubeConfigForToken(token);
    const review = await agentKc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:agent`);
    expect(review.status?.userInfo?.extra?.[claim]).toEqual([x]);

    const agentCore = agentKc.makeApiClient(CoreV1Api);
    const label = (node: string): Promise<unknown> => agentCore.patchNode({ name: node, body: { metadata: { labels: { 'patched-by-agent': 'yes' } } } }, MERGE_PATCH);
    // the policy takes effect once the apiserver has loaded it
    const denied = await waitFor(
      () =>
        label(y).then(
          () => undefined,
          (err: { code?: number; body?: string }) => (err.code === 403 ? err : undefined),
        ),
      { what: `the admission policy to deny ${x}'s agent patching ${y}` },
    );
    expect(JSON.parse(denied.body ?? '{}')).toMatchObject({
      reason: 'Forbidden',
      code: 403,
      message: `nodes "${y}" is forbidden: ValidatingAdmissionPolicy '${group}' with binding '${group}' denied request: agent of node ${x} may only change its own node, not ${y}`,
    });
    await label(x);
    expect((await core.readNode({ name: x })).metadata?.labels?.['patched-by-agent']).toBe('yes');
  });

  it('a simulated node reboots NotReady -> Ready into the version the boot model picks from its disk', async () => {
    const group = unique('reboot');
    const f = await fleet(group, 1, '1.0.0');
    const [{ node, host }] = f.members as [SimulatedFleet['members'][number]];
    expect(node.booted).toEqual({ version: '1.0.0', set: 'A', bad: false });

    // what updog would do: write 1.1.0 into the inactive set B and switch the boot to it
    writeFakeImageSet(host.diskImage, 'B', { version: '1.1.0' });
    const signpost = await Signpost.open({ disk: host.diskImage, activeSet: { file: host.activeSetFile } });
    await signpost.markInactiveValid();
    await signpost.upgradeToInactive();

    const readiness: string[] = [];
    const watch = await new Watch(cluster.kc).watch(
      '/api/v1/nodes',
      { fieldSelector: `metadata.name=${node.name}` },
      (_type: string, obj: V1Node) => {
        // an ERROR event (a broken watch) shows up in the assertion below instead of passing silently
        const ready = _type === 'ERROR' ? `ERROR ${JSON.stringify(obj)}` : isNodeReady(obj) ? 'Ready' : 'NotReady';
        if (readiness.at(-1) !== ready) readiness.push(ready);
      },
      () => undefined,
    );
    cleanups.push(async () => watch.abort());
    await waitFor(() => readiness.length > 0, { what: 'the node watch to deliver the node' });
    const bootIdBefore = node.bootId;

    expect(await node.reboot()).toEqual({ version: '1.1.0', set: 'B', bad: false });
    const after = await waitFor(async () => {
      const n = await core.readNode({ name: node.name });
      return n.status?.nodeInfo?.osImage === 'Bottlerocket OS 1.1.0' && readiness.at(-1) === 'Ready' ? n : undefined;
    }, { what: `node ${node.name} Ready on 1.1.0` });
    expect(readiness).toEqual(['Ready', 'NotReady', 'Ready']);
    expect(after.metadata?.labels?.[OS_VERSION_LABEL]).toBe('1.1.0');
    expect(after.metadata?.annotations?.[BOOTED_SET_ANNOTATION]).toBe('B');
    expect(after.status?.nodeInfo?.bootID).toBe(node.bootId);
    expect(node.bootId).not.toBe(bootIdBefore);
    expect(readFileSync(host.activeSetFile, 'utf8').trim()).toBe('B');
    expect(readFileSync(host.osRelease, 'utf8')).toContain('\nVERSION_ID=1.1.0\n');

    // 1.1.0 never marked its boot successful: the next boot falls back to 1.0.0 on set A
    expect(await node.reboot()).toEqual({ version: '1.0.0', set: 'A', bad: false });
    await waitFor(async () => (await core.readNode({ name: node.name })).status?.nodeInfo?.osImage === 'Bottlerocket OS 1.0.0', {
      what: `node ${node.name} back on 1.0.0`,
    });
  });
});
