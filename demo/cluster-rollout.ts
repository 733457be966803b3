/**
 * The cluster demo's story on a running (test) cluster: a signed repository with two releases, a
 * few simulated nodes each running the host update API and the agent, a Deployment guarded by a
 * PodDisruptionBudget, and the real controller rolling the update one node at a time while the
 * live view shows every node. Everything it starts or creates is removed again, also on abort.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import { GROUP, NODE_UPDATE, UPDATE_POLICY, VERSION, type NodeUpdate, type UpdatePolicy, type UpdatePolicySpec } from '@updog-ts/update-operator';
import type { TestCluster } from '../test/cluster/cluster.js';
import { startSimulatedFleet } from '../test/cluster/fleet.js';
import { installOperatorApi, startControllerProcess, startFakeRepository, startNodeStack } from '../test/cluster/operator-stack.js';
import { OS_VERSION_LABEL } from '../test/cluster/sim-node.js';
import { waitFor } from '../test/cluster/wait.js';
import { createDeploymentWithPdb } from '../test/cluster/workloads.js';
import { say, step } from './narrate.js';
import { createLiveView, rowReason, type NodeRow, type PdbView, type ViewOutput } from './rollout-view.js';

export const OLD = '1.0.0';
export const NEW = '1.1.0';
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const IN_FLIGHT = ['Staging', 'Staged', 'Draining', 'Rebooting', 'Verifying'];

export interface ClusterRolloutOptions {
  /** Prefix of node names; also the label value, namespace and policy name (unique per cluster). */
  id: string;
  /** Simulated nodes (3 to 5 make a readable table). */
  nodes: number;
  /** The demo's working directory: the policy and the outcome are written here. */
  workDir: string;
  /** Where the live view is drawn. */
  out: ViewOutput;
  /** Aborting stops the rollout and tears everything down. */
  signal?: AbortSignal;
  /** Give up waiting for the rollout after this long (default 240 s). */
  timeoutMs?: number;
}

export interface RolloutOutcome {
  /** Per node at the end, in name order. */
  nodes: Array<{ name: string; version: string; cordoned: boolean; state: string }>;
  /** The policy's maxUnavailable. */
  budget: number;
  /** Most nodes cordoned at the same time. */
  maxCordoned: number;
  /** Most nodes between Staging and Verifying at the same time. */
  maxInFlight: number;
  pdbMinAvailable: number;
  /** Fewest Ready pods of the workload seen during the rollout. */
  minReadyPods: number;
  /** Live-view samples taken. */
  samples: number;
  rolloutSeconds: number;
}

const WORKLOAD = 'web';
const REPLICAS = 3;
const PDB_MIN_AVAILABLE = 2;
const BUDGET = 1;

export async function runClusterRollout(cluster: TestCluster, opts: ClusterRolloutOptions): Promise<RolloutOutcome> {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const custom = cluster.kc.makeApiClient(CustomObjectsApi);
  const label = { key: 'demo.updog.dev/fleet', value: opts.id };
  const names = Array.from({ length: opts.nodes }, (_, i) => `${opts.id}-${i + 1}`);
  const namespace = opts.id;
  const policyRef = { group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name: opts.id };
  const aborted = (): void => opts.signal?.throwIfAborted();
  try {
    step(2, 'The operator API', 'The NodeUpdate and UpdatePolicy CRDs, the agent\'s service account, RBAC and the admission policy that lets an agent write only its own node.');
    say('(what `update-operator manifests | kubectl apply -f -` installs)');
    await installOperatorApi(cluster.kc);
    aborted();

    step(3, 'A signed repository with two releases', `Fake OS images for ${OLD} and ${NEW}, LZ4-packed and published in a TUF repository served on loopback.`);
    const repo = await startFakeRepository([{ version: OLD }, { version: NEW }]);
    cleanups.push(() => repo.close());
    say(`   metadata: ${repo.metadataBaseUrl}`);
    aborted();

    step(4, `${opts.nodes} nodes running ${OLD}`, 'Each simulated node has its own A/B disk image and updog.toml, a kubelet stand-in, the host update API (what `updog serve` runs) on a Unix socket, and the agent with a token bound to its node.');
    const fleet = await startSimulatedFleet(cluster, {
      names,
      version: OLD,
      labels: { [label.key]: label.value },
      host: { metadataBaseUrl: repo.metadataBaseUrl, targetsBaseUrl: repo.targetsBaseUrl },
      node: { rebootDowntimeMs: 1000, leaseRenewMs: 2000, podSyncMs: 200 },
    });
    cleanups.push(() => fleet.stop());
    for (const member of fleet.members) {
      const stack = await startNodeStack(cluster, member, { rootJsonPath: repo.rootJsonPath, refreshMs: 600_000 });
      cleanups.push(() => stack.stop());
      say(`   ${member.node.name}: disk ${member.host.diskImage}`);
      aborted();
    }

    step(5, 'A workload that must stay up', `Deployment ${WORKLOAD} (${REPLICAS} replicas) with a PodDisruptionBudget minAvailable ${PDB_MIN_AVAILABLE}: draining may take at most one pod away at a time.`);
    cleanups.push(() => core.deleteNamespace({ name: namespace }).catch(() => undefined));
    await createDeploymentWithPdb(cluster.kc, { namespace, name: WORKLOAD, replicas: REPLICAS, minAvailable: PDB_MIN_AVAILABLE, nodeSelector: { [label.key]: label.value } });
    const readyPods = async (): Promise<number> => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${WORKLOAD}` });
      return pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    };
    await waitFor(async () => (await readyPods()) === REPLICAS, { what: `${REPLICAS} ${WORKLOAD} pods Ready`, timeoutMs: 60_000 });
    say(`   ${REPLICAS} pods Ready`);
    aborted();

    step(6, 'The update policy and the controller', `One node at a time (maxUnavailable ${BUDGET}): stage the image while the node serves, cordon, drain, reboot, health gate, uncordon, next.`);
    const spec: UpdatePolicySpec = { nodeSelector: { matchLabels: { [label.key]: label.value } }, maxUnavailable: BUDGET, healthGate: { soakSeconds: 2 }, drain: { podTimeoutSeconds: 60, timeoutSeconds: 120 } };
    const policy: UpdatePolicy = { apiVersion: `${GROUP}/${VERSION}`, kind: 'UpdatePolicy', metadata: { name: opts.id }, spec: { ...spec, paused: true } };
    const policyFile = join(opts.workDir, 'update-policy.json');
    writeFileSync(policyFile, `${JSON.stringify(policy, null, 2)}\n`);
    say(`$ kubectl apply -f ${policyFile}   (paused until every agent has reported)`);
    cleanups.push(() => custom.deleteClusterCustomObject(policyRef).catch(() => undefined));
    cleanups.push(async () => {
      for (const name of names) await custom.deleteClusterCustomObject({ ...policyRef, plural: NODE_UPDATE.plural, name }).catch(() => undefined);
    });
    await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, body: policy });
    say(`$ update-operator controller --namespace ${namespace} --policy ${opts.id}   (in the background)`);
    const controller = startControllerProcess({ kubeconfigPath: cluster.kubeconfigPath, namespace, identity: `${opts.id}-controller`, policy: opts.id });
    cleanups.push(() => controller.kill('SIGTERM'));

    const nodeUpdates = async (): Promise<NodeUpdate[]> => {
      const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural })) as { items: NodeUpdate[] };
      return list.items.filter((nu) => names.includes(nu.metadata.name));
    };
    await waitFor(
      async () => {
        aborted();
        const nus = await nodeUpdates();
        return nus.length === names.length && nus.every((nu) => nu.status?.currentVersion === OLD && nu.status.availableVersion === NEW);
      },
      { what: `every agent to report ${OLD} with ${NEW} available`, timeoutMs: 60_000 },
    );
    say(`   every agent reports ${OLD} running, ${NEW} available`);
    say(`$ kubectl patch updatepolicy ${opts.id} --type merge -p '{"spec":{"paused":false}}'`);
    await custom.patchClusterCustomObject({ ...policyRef, body: { spec: { paused: false } } }, MERGE_PATCH);

    step(7, 'Rolling update', 'Live view of every node (the operator writes state and reason into each NodeUpdate).');
    const view = createLiveView(opts.out);
    const started = Date.now();
    const deadline = started + (opts.timeoutMs ?? 240_000);
    const observed = { maxCordoned: 0, maxInFlight: 0, minReadyPods: REPLICAS, samples: 0 };
    let nodes: V1Node[] = [];
    let nus: NodeUpdate[] = [];
    for (;;) {
      aborted();
      let ready: number;
      [nodes, nus, ready] = await Promise.all([core.listNode({ labelSelector: `${label.key}=${label.value}` }).then((l) => l.items), nodeUpdates(), readyPods()]);
      const rows = names.map((name): NodeRow => {
        const node = nodes.find((n) => n.metadata?.name === name);
        const nu = nus.find((u) => u.metadata.name === name);
        const version = node?.metadata?.labels?.[OS_VERSION_LABEL] ?? '?';
        return { node: name, state: nu?.status?.state ?? '-', version, cordoned: node?.spec?.unschedulable === true, reason: rowReason(nu, version, NEW) };
      });
      const pdb: PdbView = { name: WORKLOAD, readyPods: ready, minAvailable: PDB_MIN_AVAILABLE };
      view.update(rows, pdb);
      observed.maxCordoned = Math.max(observed.maxCordoned, rows.filter((r) => r.cordoned).length);
      observed.maxInFlight = Math.max(observed.maxInFlight, rows.filter((r) => IN_FLIGHT.includes(r.state)).length);
      observed.minReadyPods = Math.min(observed.minReadyPods, ready);
      observed.samples++;
      if (rows.every((r) => r.state === 'Idle' && r.version === NEW && !r.cordoned)) break;
      // a failed node is retried only after a backoff of minutes: the demo stops and says why instead
      const failed = rows.find((r) => r.state === 'Failed');
      if (failed !== undefined) throw new Error(`node ${failed.node} failed: ${failed.reason}`);
      if (Date.now() > deadline) {
        throw new Error(`the rollout did not finish in ${(opts.timeoutMs ?? 240_000) / 1000} s; controller log tail:\n${controller.log().split('\n').slice(-10).join('\n')}`);
      }
      await sleep(400);
    }
    const outcome: RolloutOutcome = {
      nodes: names.map((name) => {
        const node = nodes.find((n) => n.metadata?.name === name);
        return { name, version: node?.metadata?.labels?.[OS_VERSION_LABEL] ?? '?', cordoned: node?.spec?.unschedulable === true, state: nus.find((u) => u.metadata.name === name)?.status?.state ?? '-' };
      }),
      budget: BUDGET,
      ...observed,
      pdbMinAvailable: PDB_MIN_AVAILABLE,
      rolloutSeconds: Math.round((Date.now() - started) / 1000),
    };
    writeFileSync(join(opts.workDir, 'outcome.json'), `${JSON.stringify(outcome, null, 2)}\n`);
    return outcome;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}
