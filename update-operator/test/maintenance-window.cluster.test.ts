/**
 * Maintenance windows on the real test cluster: while every window of the policy is closed the
 * controller admits no node (NodeUpdates stay Idle, nodes stay schedulable, no reboot) and says so
 * in the UpdatePolicy status (`inMaintenanceWindow: false`, not paused); once a window opens, the
 * rollout runs to the end.
 */
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { GROUP, UPDATE_POLICY, VERSION, type MaintenanceWindow, type UpdatePolicy } from '../src/model/api.js';
import { NEW, OLD, useRolloutFixture, type ControllerProcess, type RolloutFixture } from './helpers/rollout-fixture.js';

const cluster = useTestCluster();
const core = cluster.kc.makeApiClient(CoreV1Api);
const custom = cluster.kc.makeApiClient(CustomObjectsApi);

/**
 * A yearly cron (with the seconds field croner accepts) for the wall-clock time `at` shows in UTC.
 * Read in another time zone it names another instant.
 */
function cronAtUtcWallClock(at: Date): string {
  return `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} ${at.getUTCDate()} ${at.getUTCMonth() + 1} *`;
}

async function readPolicy(name: string): Promise<UpdatePolicy> {
  return (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name })) as UpdatePolicy;
}

/** The policy status once the controller has acted on the current spec generation. */
/** The policy status once the controller wrote it for the current generation, counting every node as reported (not yet up to date). */
async function observedPolicyStatus(f: RolloutFixture, timeoutMs: number) {
  return waitFor(
    async () => {
      const p = await readPolicy(f.policyName);
      return p.status?.observedGeneration === p.metadata.generation && p.status.nodes === f.names.length && p.status.nodesUpToDate === 0 ? p.status : undefined;
    },
    { what: `the controller to act on the current generation of ${f.policyName}`, timeoutMs },
  );
}

/** Per node: [name, NodeUpdate state, spec.desiredState, Node cordoned]. */
type NodeSample = [string, string | undefined, string, boolean];

async function sampleNodes(f: RolloutFixture): Promise<NodeSample[]> {
  const [nus, nodes] = await Promise.all([f.nodeUpdates(), f.nodes()]);
  return nus.map((nu) => [nu.metadata.name, nu.status?.state, nu.spec.desiredState, nodes.find((n) => n.metadata?.name === nu.metadata.name)?.spec?.unschedulable === true]);
}

/** Samples the nodes until `until` (epoch ms); keeps only samples read completely before it. */
async function sampleNodesUntil(f: RolloutFixture, until: number): Promise<NodeSample[][]> {
  const samples: NodeSample[][] = [];
  while (Date.now() < until) {
    const s = await sampleNodes(f);
    if (Date.now() < until) samples.push(s);
    await new Promise((r) => setTimeout(r, 200));
  }
  return samples;
}

async function nodeUpdateEvents(name: string) {
  return (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=NodeUpdate,involvedObject.name=${name}` })).items;
}

/** The controller's metrics once it has done a pass that saw every agent's report and left every node Idle on OLD. */
async function metricsAfterIdlePass(f: RolloutFixture, controller: ControllerProcess): Promise<string> {
  const line = `update_operator_nodes{state="Idle",version="${OLD}"} ${f.names.length}`;
  return waitFor(
    async () => {
      const text = await controller.metrics();
      return text.includes(line) ? text : undefined;
    },
    { what: `the controller metric ${line}`, timeoutMs: 30_000 },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\nnodes: ${JSON.stringify(await sampleNodes(f))}`);
  });
}

describe('a maintenance window that opens during the test', () => {
  const fixture = useRolloutFixture(cluster, { id: 'mwopens', nodes: 2 });

  it('admits no node while closed, says so in the policy status, then rolls every node to the new version', { timeout: 180_000 }, async () => {
    const f = fixture();
    await f.setPolicy({ paused: true, maxUnavailable: 1, healthGate: { soakSeconds: 1 } });
    const controller = f.startController('mwopens-a');
    await f.awaitAgentReports();

    // a window starting on a whole second 12 s from now (time zone defaulted: UTC), long enough for the rollout
    const opensAt = Math.ceil((Date.now() + 12_000) / 1000) * 1000;
    const window: MaintenanceWindow = { schedule: cronAtUtcWallClock(new Date(opensAt)), durationSeconds: 600 };
    await f.patchPolicy({ paused: false, maintenanceWindows: [window] });
    const generation = (await readPolicy(f.policyName)).metadata.generation;

    const closedStatus = await observedPolicyStatus(f, opensAt - Date.now());
    const group = { conflicts: 0, conflictingNodes: [], nodes: 2 };
    expect(closedStatus).toEqual({ paused: false, failures: 0, nodesUpdating: 0, maxUnavailable: 1, inMaintenanceWindow: false, observedGeneration: generation, ...group, nodesUpToDate: 0 });
    // the gauge is set in the same pass, before the status is written
    expect(await controller.metrics()).toContain('update_operator_paused 0');
    const closedSamples = await sampleNodesUntil(f, opensAt);
    expect(closedSamples.length).toBeGreaterThan(0);
    for (const s of closedSamples) expect(s).toEqual(f.names.map((n) => [n, 'Idle', 'Idle', false]));

    // the controller writes the Idle status first, then uncordons and records the Updated Event
    const finished = async (): Promise<boolean> =>
      (await f.nodeUpdates()).every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === NEW) &&
      (await f.nodes()).every((n) => n.spec?.unschedulable !== true) &&
      (await Promise.all(f.names.map(async (name) => (await nodeUpdateEvents(name)).some((e) => e.reason === 'Updated')))).every(Boolean);
    await waitFor(finished, {
      what: `every node Idle on ${NEW}, uncordoned and with its Updated Event after the window opened`,
      timeoutMs: 120_000,
      intervalMs: 500,
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(await sampleNodes(f))}\n${controller.log().split('\n').slice(-10).join('\n')}`);
    });

    // each node was admitted once, not before the window opened (Event times are whole seconds, as is opensAt)
    for (const name of f.names) {
      const events = await nodeUpdateEvents(name);
      const staging = events.filter((e) => e.reason === 'Staging');
      expect(staging.map((e) => e.message)).toEqual([`staging ${NEW} (running ${OLD})`]);
      expect(new Date(staging[0]!.firstTimestamp!).getTime()).toBeGreaterThanOrEqual(opensAt);
      expect(events.filter((e) => e.reason === 'Updated').map((e) => e.message)).toEqual([`running ${NEW}; health gate passed`]);
    }
    expect(f.hosts.map((h) => h.rebootRequests)).toEqual([1, 1]);
    expect((await f.nodes()).map((n) => n.spec?.unschedulable === true)).toEqual([false, false]);
    const openStatus = await waitFor(async () => {
      const s = (await readPolicy(f.policyName)).status;
      return s?.nodesUpdating === 0 ? s : undefined;
    }, { what: 'the policy status to count no node updating' });
    expect(openStatus).toEqual({ paused: false, failures: 0, nodesUpdating: 0, maxUnavailable: 1, inMaintenanceWindow: true, observedGeneration: generation, ...group, nodesUpToDate: 2 });
    expect(await controller.metrics()).toContain(`update_operator_nodes{state="Idle",version="${NEW}"} 2`);
  });
});

describe('a maintenance window closed for the whole test', () => {
  const fixture = useRolloutFixture(cluster, { id: 'mwclosed', nodes: 2 });

  it('admits no node and reports that it is outside every window, not paused', { timeout: 120_000 }, async () => {
    const f = fixture();
    // Today's UTC wall-clock time read in Asia/Kolkata (UTC+05:30 all year) is 5.5 hours ago: the
    // hour-long window closed 4.5 hours ago (it would be open now if the zone were ignored).
    const window: MaintenanceWindow = { schedule: cronAtUtcWallClock(new Date()), timeZone: 'Asia/Kolkata', durationSeconds: 3600 };
    await f.setPolicy({ maxUnavailable: 1, healthGate: { soakSeconds: 1 }, maintenanceWindows: [window] });
    const controller = f.startController('mwclosed-a');
    await f.awaitAgentReports();
    const metrics = await metricsAfterIdlePass(f, controller);
    expect(metrics).toContain('update_operator_paused 0');
    const status = await observedPolicyStatus(f, 30_000);
    expect(status).toEqual({ paused: false, failures: 0, nodesUpdating: 0, maxUnavailable: 1, inMaintenanceWindow: false, observedGeneration: 1, conflicts: 0, conflictingNodes: [], nodes: 2, nodesUpToDate: 0 });

    // keep watching through several controller ticks (1 s) and agent heartbeats
    const samples = await sampleNodesUntil(f, Date.now() + 6_000);
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect(s).toEqual(f.names.map((n) => [n, 'Idle', 'Idle', false]));

    const nus = await f.nodeUpdates();
    expect(nus.map((nu) => [nu.status?.currentVersion, nu.status?.availableVersion, nu.status?.stagedVersion, nu.spec.targetVersion])).toEqual([
      [OLD, NEW, undefined, undefined],
      [OLD, NEW, undefined, undefined],
    ]);
    for (const name of f.names) expect(await nodeUpdateEvents(name)).toEqual([]);
    expect(f.hosts.map((h) => h.rebootRequests)).toEqual([0, 0]);
    expect((await readPolicy(f.policyName)).status).toEqual(status);
    expect(await controller.metrics()).toContain(`update_operator_nodes{state="Idle",version="${OLD}"} 2`);
  });
});
