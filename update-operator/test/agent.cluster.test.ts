/**
 * The agent on the real test cluster: simulated nodes whose host update API runs over their own
 * disk images, a signed repository on loopback, agents authenticated as their node. The test plays
 * the controller: it writes NodeUpdate specs and checks what the agents do and report.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedFleet, type SimulatedFleet } from '../../test/cluster/fleet.js';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { Signpost } from '@updog-ts/updog/disk';
import { API_VERSION, GROUP, NODE_UPDATE, VERSION, type NodeUpdate, type NodeUpdateSpec } from '../src/model/api.js';
import { AGENT_SERVICE_ACCOUNT, installOperatorApi, startFakeRepository, startNodeStack, type FakeRepository, type NodeStack } from '../../test/cluster/operator-stack.js';

const cluster = useTestCluster();
const custom = cluster.kc.makeApiClient(CustomObjectsApi);
const core = cluster.kc.makeApiClient(CoreV1Api);
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const suffix = randomBytes(3).toString('hex');
const names = [`agent-good-${suffix}`, `agent-bad-${suffix}`, `agent-bin-${suffix}`];
const ref = (name: string) => ({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name });

let repo: FakeRepository;
let fleet: SimulatedFleet;
const stacks: NodeStack[] = [];

beforeAll(async () => {
  await installOperatorApi(cluster.kc);
  repo = await startFakeRepository([{ version: '1.1.0' }, { version: '1.2.0', bad: true }]);
  fleet = await startSimulatedFleet(cluster, {
    names,
    version: '1.0.0',
    labels: { [`agent-test-${suffix}`]: 'true' },
    host: { metadataBaseUrl: repo.metadataBaseUrl, targetsBaseUrl: repo.targetsBaseUrl },
    node: { rebootDowntimeMs: 200 },
  });
  for (const member of fleet.members) {
    // The controller creates each NodeUpdate (owned by its Node); here the test does.
    const node = await core.readNode({ name: member.node.name });
    const body: NodeUpdate = {
      apiVersion: API_VERSION,
      kind: 'NodeUpdate',
      metadata: { name: member.node.name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: member.node.name, uid: node.metadata?.uid ?? '' }] },
      spec: { desiredState: 'Idle' },
    };
    await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, body });
    // The third node's agent is the real `update-operator agent` bin, as the DaemonSet runs it.
    const agentProcess = member.node.name === names[2];
    stacks.push(await startNodeStack(cluster, member, { rootJsonPath: repo.rootJsonPath, agentProcess }));
  }
});

afterAll(async () => {
  for (const s of stacks) await s.stop();
  for (const name of names) await custom.deleteClusterCustomObject(ref(name)).catch(() => undefined);
  await fleet?.stop();
  await repo?.close();
});

const get = async (name: string): Promise<NodeUpdate> => (await custom.getClusterCustomObject(ref(name))) as NodeUpdate;

/** Writes the spec as the controller does; returns the new generation. */
async function setSpec(name: string, spec: NodeUpdateSpec): Promise<number> {
  const updated = (await custom.patchClusterCustomObject({ ...ref(name), body: { spec } }, MERGE_PATCH)) as NodeUpdate;
  return updated.metadata.generation ?? 0;
}

/** Waits until the agent has answered `generation`. */
function answered(name: string, generation: number, timeoutMs = 60_000): Promise<NodeUpdate> {
  return waitFor(
    async () => {
      const nu = await get(name);
      return nu.status?.observedGeneration === generation ? nu : undefined;
    },
    { what: `agent of ${name} to answer generation ${generation}`, timeoutMs },
  );
}

describe('update-operator agent on the test cluster', () => {
  it("reports its host's state and versions into its own NodeUpdate", async () => {
    const nu = await waitFor(
      async () => {
        const n = await get(names[0]!);
        return n.status?.observedGeneration === 1 && n.status.availableVersion !== undefined ? n : undefined;
      },
      { what: 'first agent report' },
    );
    expect(nu.status).toMatchObject({ hostState: 'Available', currentVersion: '1.0.0', availableVersion: '1.2.0', observedGeneration: 1 });
    expect(nu.status?.stagedVersion).toBeUndefined();
    expect(nu.status?.agentHeartbeat).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('stages, then reboots into the target version and marks the boot successful', async () => {
    const name = names[0]!;
    const staging = await setSpec(name, { desiredState: 'Staged', targetVersion: '1.1.0' });
    const staged = await answered(name, staging);
    expect(staged.status).toMatchObject({ hostState: 'Staged', currentVersion: '1.0.0', stagedVersion: '1.1.0' });
    expect(staged.status?.agentFailure).toBeUndefined();

    const rebooting = await setSpec(name, { desiredState: 'Rebooted', targetVersion: '1.1.0' });
    const done = await answered(name, rebooting);
    expect(done.status).toMatchObject({ currentVersion: '1.1.0', rebootGeneration: rebooting });
    expect(done.status?.stagedVersion).toBeUndefined();
    expect(done.status?.agentFailure).toBeUndefined();

    const node = await core.readNode({ name });
    expect(node.status?.nodeInfo?.osImage).toBe('Bottlerocket OS 1.1.0');
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const member = fleet.members[0]!;
    const flags = await (await Signpost.open({ disk: member.host.diskImage, activeSet: { file: member.host.activeSetFile } })).status();
    expect(flags.activeSet).toBe('B');
    expect(flags.B.successful).toBe(true);
    expect(flags.nextBoot).toBe('B');
  });

  it('a bad image: health check fails, the agent rolls the host back and reports RolledBack for that version', async () => {
    const name = names[1]!;
    const generation = await setSpec(name, { desiredState: 'Rebooted', targetVersion: '1.2.0' });
    const nu = await answered(name, generation, 90_000);
    expect(nu.status?.currentVersion).toBe('1.0.0');
    expect(nu.status?.rebootGeneration).toBe(generation);
    expect(nu.status?.agentFailure).toMatchObject({ reason: 'RolledBack', version: '1.2.0', generation });
    expect(nu.status?.agentFailure?.message).toBe(
      `host rebooted into 1.0.0 instead of 1.2.0: the new image did not come up healthy and the host fell back to its previous partition set; not retried automatically (health check failed: simulated host ${name}: image 1.2.0 is bad, its services did not start)`,
    );
    const member = fleet.members[1]!;
    expect(member.node.booted).toEqual({ version: '1.0.0', set: 'A', bad: false });
    const flags = await (await Signpost.open({ disk: member.host.diskImage, activeSet: { file: member.host.activeSetFile } })).status();
    expect({ priority: flags.B.priority, tries: flags.B.triesLeft, successful: flags.B.successful }).toEqual({ priority: 2, tries: 0, successful: false });
    expect(flags.nextBoot).toBe('A');
  });

  it('the `update-operator agent` bin does the same from its own process', async () => {
    const name = names[2]!;
    const staging = await setSpec(name, { desiredState: 'Staged', targetVersion: '1.1.0' });
    expect((await answered(name, staging)).status).toMatchObject({ hostState: 'Staged', stagedVersion: '1.1.0', currentVersion: '1.0.0' });
    const rebooting = await setSpec(name, { desiredState: 'Rebooted', targetVersion: '1.1.0' });
    const done = await answered(name, rebooting);
    expect(done.status).toMatchObject({ currentVersion: '1.1.0', rebootGeneration: rebooting });
    expect(done.status?.agentFailure).toBeUndefined();
    expect(fleet.members[2]!.node.booted).toEqual({ version: '1.1.0', set: 'B', bad: false });
  });

  it("an agent's token writes its own NodeUpdate status only: RBAC keeps it off spec, the admission policy off other nodes", async () => {
    const token = await cluster.createNodeServiceAccountToken(names[0]!, { namespace: AGENT_SERVICE_ACCOUNT.namespace, serviceAccount: AGENT_SERVICE_ACCOUNT.name });
    const asAgent = cluster.kubeConfigForToken(token).makeApiClient(CustomObjectsApi);
    const heartbeat = { status: { agentHeartbeat: '2026-01-01T00:00:00Z' } };
    await asAgent.patchClusterCustomObjectStatus({ ...ref(names[0]!), body: heartbeat }, MERGE_PATCH);
    await expect(asAgent.patchClusterCustomObject({ ...ref(names[0]!), body: { spec: { desiredState: 'Idle' } } }, MERGE_PATCH)).rejects.toMatchObject({ code: 403 });
    // The policy was created with the cluster objects; the apiserver enforces it once its type check ran.
    const rejected = await waitFor(
      () =>
        asAgent.patchClusterCustomObjectStatus({ ...ref(names[1]!), body: heartbeat }, MERGE_PATCH).then(
          () => undefined,
          (err: unknown) => err as { code?: number; body?: unknown },
        ),
      { what: "the admission policy to reject another node's status", timeoutMs: 30_000 },
    );
    expect(rejected.code).toBe(403);
    expect(JSON.parse(String(rejected.body)).message).toContain(
      `the update-operator agent may only write the status of its own node's NodeUpdate (token node: ${names[0]!}, object: ${names[1]!})`,
    );
  });
});
