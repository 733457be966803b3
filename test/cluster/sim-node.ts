/**
 * A simulated node: a Node object plus a kubelet stand-in that keeps the node's Lease fresh,
 * reports it Ready, runs the pods bound to it (Running/Ready, no containers really run), finishes
 * graceful deletions, and "reboots" by going NotReady, running the gptprio boot model on the node's
 * disk image (the `signpost simulate-boot` bin, which also rewrites the host's active-set file and
 * os-release), and coming back Ready with the booted version in `status.nodeInfo.osImage`.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import type { TestCluster } from './cluster.js';
import { ignoreConflict } from './cluster.js';
import { isNodeReadyForPods } from './node-fit.js';
import { repoRoot } from './repo-root.js';
import { waitFor } from './wait.js';

/** Every simulated node carries this label (value `true`). */
export const SIM_NODE_LABEL = 'sim.updog.dev/node';
/** Node label: the OS version the node booted last. */
export const OS_VERSION_LABEL = 'sim.updog.dev/os-version';
/** Node annotation: the partition set (A or B) the node booted last. */
export const BOOTED_SET_ANNOTATION = 'sim.updog.dev/booted-set';

export interface SimulatedNodeOptions {
  name: string;
  /** Extra node labels (use a label unique to your test and a matching nodeSelector on workloads). */
  labels?: Record<string, string>;
  /** The host's disk image (see createSimulatedHostFiles in sim-host.ts). */
  diskImage: string;
  /** The host's os-release; VERSION_ID is rewritten at every boot. */
  osRelease: string;
  /** Receives the booted set letter at every boot (updog's active-set file). */
  activeSetFile: string;
  /** How long the node stays NotReady before it boots (default 1000 ms). */
  rebootDowntimeMs?: number;
  /** Lease renewal interval (default 5000 ms; the lease lasts 40 s). */
  leaseRenewMs?: number;
  /** How often bound pods are synced (default 250 ms). */
  podSyncMs?: number;
}

export interface BootedOs {
  version: string;
  set: 'A' | 'B';
  /** The image header says it is bad: it boots, but its health check must fail. */
  bad: boolean;
}

export interface SimNode {
  name: string;
  /** What booted last. */
  readonly booted: BootedOs;
  /** Changes at every boot, like /proc/sys/kernel/random/boot_id. */
  readonly bootId: string;
  /** NotReady, boot model on the disk, Ready again; resolves with what booted. */
  reboot(): Promise<BootedOs>;
  /** Stops the kubelet stand-in and (default) deletes the Node and its Lease; idempotent. */
  stop(opts?: { deleteNode?: boolean }): Promise<void>;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const LEASE_DURATION_SECONDS = 40;

/** RFC 3339 with microseconds, as Lease times (metav1.MicroTime) require. */
function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Runs the boot model through the signpost bin, so the host files change exactly as on a real boot. */
async function bootDisk(opts: SimulatedNodeOptions): Promise<BootedOs> {
  const signpost = join(repoRoot(), 'updog', 'dist', 'cli', 'signpost.js');
  const args = [signpost, '--disk', opts.diskImage, 'simulate-boot', '--json', '--record-active-set', opts.activeSetFile, '--os-release', opts.osRelease];
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, args, { encoding: 'utf8' }));
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`node ${opts.name} failed to boot ${opts.diskImage}: ${stderr || String(err)} (is dist/ built? run npm run build)`);
  }
  const result = JSON.parse(stdout) as { set: 'A' | 'B'; version?: string; bad?: boolean };
  if (result.version === undefined) throw new Error(`node ${opts.name} booted set ${result.set} of ${opts.diskImage}, which holds no image`);
  return { version: result.version, set: result.set, bad: result.bad === true };
}

function readyCondition(ready: boolean, message: string): Record<string, string> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
}

function podIsRunningReady(pod: V1Pod): boolean {
  return pod.status?.phase === 'Running' && (pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);
}

/** Creates the Node and starts its kubelet stand-in; resolves once the node is Ready and takes pods. */
export async function startSimulatedNode(cluster: TestCluster, opts: SimulatedNodeOptions): Promise<SimNode> {
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const coordination = cluster.kc.makeApiClient(CoordinationV1Api);
  const name = opts.name;
  const abort = new AbortController();
  let booted = await bootDisk(opts);
  let bootId = randomUUID();
  let rebooting = false;

  const patchNodeStatus = async (ready: boolean, message: string): Promise<void> => {
    const status = {
      conditions: [
        readyCondition(ready, message),
        ...['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({ ...readyCondition(false, ''), type, reason: `KubeletHasNo${type}` })),
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: name },
      ],
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      nodeInfo: {
        machineID: name,
        systemUUID: name,
        bootID: bootId,
        kernelVersion: '6.1.0-sim',
        osImage: `Bottlerocket OS ${booted.version}`,
        containerRuntimeVersion: 'containerd://1.7.0-sim',
        kubeletVersion: 'v1.34.0-sim',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
    await core.patchNodeStatus({ name, body: { status } }, MERGE_PATCH);
  };
  const labelBootedOs = (): Promise<unknown> =>
    core.patchNode({ name, body: { metadata: { labels: { [OS_VERSION_LABEL]: booted.version }, annotations: { [BOOTED_SET_ANNOTATION]: booted.set } } } }, MERGE_PATCH);

  const renewLease = async (): Promise<void> => {
    const spec = { holderIdentity: name, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: microTime() };
    try {
      await coordination.patchNamespacedLease({ name, namespace: NODE_LEASE_NAMESPACE, body: { spec } }, MERGE_PATCH);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await ignoreConflict(coordination.createNamespacedLease({ namespace: NODE_LEASE_NAMESPACE, body: { metadata: { name }, spec: { holderIdentity: name, leaseDurationSeconds: LEASE_DURATION_SECONDS } } }));
      await coordination.patchNamespacedLease({ name, namespace: NODE_LEASE_NAMESPACE, body: { spec } }, MERGE_PATCH);
    }
  };

  /** One kubelet pass over the pods bound to this node. */
  const syncPods = async (): Promise<void> => {
    const pods = (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` })).items;
    for (const pod of pods) {
      const podName = pod.metadata?.name ?? '';
      const namespace = pod.metadata?.namespace ?? '';
      if (pod.metadata?.deletionTimestamp !== undefined) {
        // The containers "stopped" at once: finish the graceful deletion as a kubelet does.
        await core
          .deleteNamespacedPod({ name: podName, namespace, body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } } })
          .catch((err: unknown) => {
            if ((err as { code?: number }).code !== 404 && (err as { code?: number }).code !== 409) throw err;
          });
        continue;
      }
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      const ready = !rebooting;
      if (podIsRunningReady(pod) === ready && pod.status?.phase === 'Running') continue;
      await core.patchNamespacedPodStatus({ name: podName, namespace, body: { status: podStatus(pod, ready) } }, MERGE_PATCH).catch((err: unknown) => {
        if ((err as { code?: number }).code !== 404) throw err;
      });
    }
  };

  const loop = async (intervalMs: number, pass: () => Promise<void>): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        await pass();
      } catch {
        // transient apiserver errors: the next pass retries (a real kubelet does the same)
      }
      await sleep(intervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
    }
  };

  const existing = await core.readNode({ name }).catch(() => undefined);
  if (existing !== undefined) throw new Error(`node ${name} already exists in the test cluster; use a unique node name per test`);
  await core.createNode({
    body: {
      metadata: {
        name,
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', [SIM_NODE_LABEL]: 'true', ...opts.labels },
      },
    },
  });
  await labelBootedOs();
  await renewLease();
  await patchNodeStatus(true, 'simulated kubelet is posting ready status');

  const loops = [loop(opts.leaseRenewMs ?? 5_000, renewLease), loop(opts.podSyncMs ?? 250, syncPods)];
  let stopped: Promise<void> | undefined;

  const node: SimNode = {
    name,
    get booted() {
      return booted;
    },
    get bootId() {
      return bootId;
    },
    async reboot() {
      if (rebooting) throw new Error(`node ${name} is already rebooting`);
      rebooting = true;
      await patchNodeStatus(false, 'node is rebooting');
      await syncPods();
      await sleep(opts.rebootDowntimeMs ?? 1_000);
      booted = await bootDisk(opts); // on failure the node stays NotReady, as a host stuck in its bootloader
      bootId = randomUUID();
      await labelBootedOs();
      await patchNodeStatus(true, 'simulated kubelet is posting ready status');
      rebooting = false;
      await syncPods();
      return booted;
    },
    stop(stopOpts = {}) {
      stopped ??= (async () => {
        abort.abort();
        await Promise.all(loops);
        if (stopOpts.deleteNode ?? true) {
          await coordination.deleteNamespacedLease({ name, namespace: NODE_LEASE_NAMESPACE }).catch(() => undefined);
          await core.deleteNode({ name }).catch(() => undefined);
        }
      })();
      return stopped;
    },
  };
  // Resolve only once pods can be placed here, or a workload created next lands on the other nodes.
  try {
    await waitFor(async () => isNodeReadyForPods(await core.readNode({ name })), { what: `node ${name} to be Ready without the node lifecycle controller's not-ready taint` });
  } catch (err) {
    await node.stop();
    throw err;
  }
  return node;
}

/**
 * A stable made-up pod address in 10.244.0.0/16, derived from the pod's UID. Not loopback:
 * Endpoints/EndpointSlices refuse loopback addresses, and a Service may select these pods.
 */
function fakePodIp(pod: V1Pod): string {
  const [a = 0, b = 0] = createHash('sha256').update(pod.metadata?.uid ?? '').digest();
  return `10.244.${a}.${b === 0 || b === 255 ? 1 : b}`;
}

/** The status a kubelet reports for a pod whose containers all run (ready or not). */
function podStatus(pod: V1Pod, ready: boolean): Record<string, unknown> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const startTime = pod.status?.startTime?.toISOString().replace(/\.\d{3}Z$/, 'Z') ?? now;
  const condition = (type: string, status: boolean): Record<string, string> => ({ type, status: status ? 'True' : 'False', lastTransitionTime: now });
  return {
    phase: 'Running',
    hostIP: '127.0.0.1',
    podIP: fakePodIp(pod),
    startTime,
    conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', ready), condition('Ready', ready)],
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: startTime } },
    })),
  };
}
