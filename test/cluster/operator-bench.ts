/**
 * The operator at fleet scale on the test cluster: N simulated nodes, the real controller (the
 * `update-operator controller` bin, production defaults but a 2 s soak) and, per node, the real
 * agent (NodeAgent + nodeUpdateStore) in this process. Simulated: the Node objects (created here;
 * their Ready condition is flipped around a reboot and their Lease renewed when asked), and each
 * host update API (BenchHost: the same calls and status documents as `updog serve`, in memory).
 * Measures rollout time, nodes in flight against the budget (every NodeUpdate change, seen through
 * a watch), controller and agent API requests (by verb and resource), idle load, reconcile latency,
 * controller peak RSS and CPU.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, IN_FLIGHT_STATES, Informer, KubeClient, NODE_UPDATE, NODE_UPDATES_PATH, NodeAgent, type NodeUpdate, nodeUpdateStore, type NodeUpdateStore, projectNodeUpdate, UPDATE_POLICY, type UpdatePolicy, VERSION } from '@updog-ts/update-operator';
import { createLogger } from '@updog-ts/updog/common';
import { BenchHost } from './bench-host.js';
import type { TestCluster } from './cluster.js';
import { installOperatorApi, startControllerProcess, type ControllerProcess } from './operator-stack.js';
import { waitFor } from './wait.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const BENCH_OLD = '1.0.0';
export const BENCH_NEW = '1.1.0';

export interface OperatorBenchOptions {
  nodes: number;
  /** Unique per run: prefixes node names, label, policy and namespace. */
  id: string;
  /** Agent heartbeat (production default 30 s). */
  heartbeatMs?: number;
  /** How long to measure the idle load after the rollout. */
  idleMs?: number;
  /** Renew each node's Lease this often (needed when the node lifecycle controller runs). */
  leaseRenewMs?: number;
  /** Simulated reboot: NotReady for this long. */
  rebootDowntimeMs?: number;
  rolloutTimeoutMs?: number;
  maxUnavailable?: string;
  log?: (line: string) => void;
}

export interface OperatorBenchResult {
  nodes: number;
  rolloutSeconds: number;
  maxUnavailable: number;
  maxInFlight: number;
  /** NodeUpdate changes seen while measuring in-flight nodes. */
  samples: number;
  updated: number;
  /** Before the rollout: initial lists and watches, NodeUpdate creation (once per node's lifetime). */
  controllerSetupRequestsPerNode: number;
  controllerSetupRequestsByVerb: Record<string, number>;
  /** From unpausing the policy to the last node updated. */
  controllerRequestsPerNode: number;
  controllerRequestsByVerb: Record<string, number>;
  controllerIdleRequestsPerMinute: number;
  agentRequestsPerNode: number;
  agentRequestsByVerb: Record<string, number>;
  agentIdleRequestsPerNodePerHeartbeat: number;
  reconcile: { count: number; meanSeconds: number; p95Seconds: number; maxBucketSeconds: number };
  controllerPeakRssMiB: number;
  controllerCpuSeconds: number;
}

/** Prometheus text to { 'name{labels}': value }. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** API requests by `verb resource`, from update_operator_api_requests_total. */
function requestsByVerb(metrics: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of metrics) {
    const m = /^update_operator_api_requests_total\{verb="([^"]+)",resource="([^"]+)"\}$/.exec(key);
    if (m) out[`${m[1]} ${m[2]}`] = value;
  }
  return out;
}

const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
const sum = (r: Record<string, number>, skip: (k: string) => boolean = () => false) => Object.entries(r).reduce((t, [k, v]) => (skip(k) ? t : t + v), 0);
/** Evictions and Events are not the controller's own cost per node (they follow the workload). */
const isEvictionOrEvent = (k: string) => k.endsWith(' pods/eviction') || k.endsWith(' events');

/** Reconcile latency of nodes from the histogram: count, mean, p95 and the largest bucket used. */
function reconcileLatency(metrics: Map<string, number>): OperatorBenchResult['reconcile'] {
  const prefix = 'update_operator_reconcile_duration_seconds';
  const count = metrics.get(`${prefix}_count{kind="node"}`) ?? 0;
  const total = metrics.get(`${prefix}_sum{kind="node"}`) ?? 0;
  const buckets = [...metrics]
    .flatMap(([k, v]) => {
      const m = new RegExp(`^${prefix}_bucket\\{le="([^"]+)",kind="node"\\}$`).exec(k);
      return m ? [{ le: m[1] === '+Inf' ? Infinity : Number(m[1]), n: v }] : [];
    })
    .sort((a, b) => a.le - b.le);
  const p95 = buckets.find((b) => b.n >= 0.95 * count)?.le ?? NaN;
  const maxBucket = buckets.find((b) => b.n >= count)?.le ?? NaN;
  return { count, meanSeconds: count ? total / count : 0, p95Seconds: p95, maxBucketSeconds: maxBucket };
}

/** Peak RSS (VmHWM) in MiB and CPU seconds (user + system) of a live process. */
function processUsage(pid: number): { peakRssMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 per second on Linux)
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { peakRssMiB: hwm / 1024, cpuSeconds: ticks / 100 };
}

/** The agent's store, counting each request by verb. */
function countingStore(store: NodeUpdateStore, counts: Map<string, number>): NodeUpdateStore {
  const count = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
  return {
    get: () => (count('get nodeupdates'), store.get()),
    patchStatus: (p) => (count('patch nodeupdates/status'), store.patchStatus(p)),
    watch: (onChange, onError) => (count('watch nodeupdates'), store.watch(onChange, onError)),
  };
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Lease times (metav1.MicroTime) need exactly six fractional digits. */
const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

const readyCondition = (ready: boolean) => {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'KubeletReady' : 'KubeletNotReady', message: 'simulated', lastHeartbeatTime: now, lastTransitionTime: now };
};

export async function runOperatorBench(cluster: TestCluster, opts: OperatorBenchOptions): Promise<OperatorBenchResult> {
  const log = opts.log ?? (() => {});
  const heartbeatMs = opts.heartbeatMs ?? 30_000;
  const kc: KubeConfig = cluster.kc;
  const client = new KubeClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const label = { key: 'bench.updog.dev/run', value: opts.id };
  const names = Array.from({ length: opts.nodes }, (_, i) => `${opts.id}-${String(i + 1).padStart(4, '0')}`);
  const namespace = `bench-${opts.id}`;
  const policyName = `bench-${opts.id}`;
  const silent = createLogger('bench-agent', 'silent');
  const cleanups: Array<() => Promise<void>> = [];
  const agentCounts = new Map<string, number>();
  let controller: ControllerProcess | undefined;
  let leaseTimer: NodeJS.Timeout | undefined;
  try {
    await installOperatorApi(kc);
    await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
    cleanups.push(async () => void (await core.deleteNamespace({ name: namespace }).catch(() => undefined)));

    // ---- nodes, hosts, agents
    log(`creating ${opts.nodes} nodes`);
    const hosts = new Map<string, BenchHost>();
    const agents: NodeAgent[] = [];
    cleanups.push(async () => {
      await Promise.all(agents.map((a) => a.stop()));
      await inBatches(names, 50, async (name) => {
        await core.deleteNode({ name }).catch(() => undefined);
        await custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name }).catch(() => undefined);
        await coordination.deleteNamespacedLease({ name, namespace: 'kube-node-lease' }).catch(() => undefined);
      });
    });
    const setReady = (name: string, ready: boolean) => core.patchNodeStatus({ name, body: { status: { conditions: [readyCondition(ready)] } } }, MERGE_PATCH);
    await inBatches(names, 25, async (name) => {
      await core.createNode({ body: { metadata: { name, labels: { [label.key]: label.value, 'kubernetes.io/hostname': name } } } });
      await setReady(name, true);
      if (opts.leaseRenewMs !== undefined) {
        await coordination.createNamespacedLease({ namespace: 'kube-node-lease', body: { metadata: { name }, spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() as unknown as Date } } });
      }
      const host: BenchHost = new BenchHost(BENCH_OLD, BENCH_NEW, () => {
        void (async () => {
          await setReady(name, false);
          await sleep(opts.rebootDowntimeMs ?? 1000);
          host.boot();
          await setReady(name, true);
        })().catch((err: Error) => log(`reboot of ${name} failed: ${err.message}`));
      });
      hosts.set(name, host);
    });
    if (opts.leaseRenewMs !== undefined) {
      const renewMs = opts.leaseRenewMs;
      let renewing = false;
      leaseTimer = setInterval(() => {
        if (renewing) return;
        renewing = true;
        void inBatches(names, 50, async (name) => {
          await coordination.patchNamespacedLease({ name, namespace: 'kube-node-lease', body: { spec: { renewTime: microTime() } } }, MERGE_PATCH).catch(() => undefined);
        }).finally(() => (renewing = false));
      }, renewMs);
    }
    await inBatches(names, 50, async (name) => {
      const agent = new NodeAgent({ api: hosts.get(name)!, store: countingStore(nodeUpdateStore(client, name), agentCounts), logger: silent, heartbeatMs, refreshMs: 300_000 });
      agents.push(agent);
      await agent.start();
    });

    // ---- in-flight monitor: every NodeUpdate change, through a watch
    const monitor = { maxInFlight: 0, samples: 0 };
    const mine = new Set(names);
    const watchNus = new Informer<NodeUpdate>(client, {
      path: NODE_UPDATES_PATH,
      project: projectNodeUpdate,
      handlers: {
        upsert: () => {
          let inFlight = 0;
          for (const nu of watchNus.items.values()) if (mine.has(nu.metadata.name) && IN_FLIGHT_STATES.has(nu.status?.state ?? 'Idle')) inFlight++;
          monitor.maxInFlight = Math.max(monitor.maxInFlight, inFlight);
          monitor.samples++;
        },
        remove: () => {},
      },
      onRequest: () => {},
      onWatchError: () => {},
    });
    await watchNus.start();
    cleanups.push(() => watchNus.stop());

    // ---- policy (paused), controller, wait for every agent's report, go
    const policyRef = { group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name: policyName };
    const policy: UpdatePolicy = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'UpdatePolicy',
      metadata: { name: policyName },
      spec: { nodeSelector: { matchLabels: { [label.key]: label.value } }, maxUnavailable: opts.maxUnavailable ?? '10%', healthGate: { soakSeconds: 2 }, paused: true },
    };
    await custom.createClusterCustomObject({ ...policyRef, body: policy });
    cleanups.push(async () => void (await custom.deleteClusterCustomObject(policyRef).catch(() => undefined)));
    const started = Date.now();
    controller = startControllerProcess({ kubeconfigPath: cluster.kubeconfigPath, namespace, identity: `bench-${opts.id}`, policy: policyName, tickSeconds: 5 });
    const ourNus = () => [...watchNus.items.values()].filter((nu) => mine.has(nu.metadata.name));
    await waitFor(() => ourNus().length === names.length && ourNus().every((nu) => nu.status?.availableVersion === BENCH_NEW), {
      what: `a NodeUpdate with ${BENCH_NEW} available for each of the ${names.length} nodes`,
      timeoutMs: 120_000 + opts.nodes * 600,
      intervalMs: 250,
    });
    log(`NodeUpdates created and reported in ${((Date.now() - started) / 1000).toFixed(1)} s; unpausing`);
    const controllerPid = controller.child.pid!;
    const beforeRollout = requestsByVerb(parseMetrics(await controller.metrics()));
    await custom.patchClusterCustomObject({ ...policyRef, body: { spec: { paused: false } } }, MERGE_PATCH);
    const rolloutStart = Date.now();
    const agentBefore = Object.fromEntries(agentCounts);
    await waitFor(() => ourNus().every((nu) => nu.status?.state === 'Idle' && nu.status.currentVersion === BENCH_NEW), {
      what: `every one of the ${names.length} nodes Idle on ${BENCH_NEW}`,
      timeoutMs: opts.rolloutTimeoutMs ?? 600_000,
      intervalMs: 250,
    }).catch((err: Error) => {
      const states = new Map<string, number>();
      for (const nu of ourNus()) states.set(`${nu.status?.state}/${nu.status?.currentVersion}`, (states.get(`${nu.status?.state}/${nu.status?.currentVersion}`) ?? 0) + 1);
      throw new Error(`${err.message}; states: ${JSON.stringify(Object.fromEntries(states))}; controller log tail: ${controller!.log().split('\n').slice(-5).join(' | ')}`);
    });
    const rolloutSeconds = (Date.now() - rolloutStart) / 1000;
    const afterRollout = parseMetrics(await controller.metrics());
    const agentAfterRollout = Object.fromEntries(agentCounts);
    log(`rollout done in ${rolloutSeconds.toFixed(1)} s; measuring idle load for ${((opts.idleMs ?? 60_000) / 1000).toFixed(0)} s`);

    // ---- idle
    const idleMs = opts.idleMs ?? 60_000;
    await sleep(idleMs);
    const afterIdle = parseMetrics(await controller.metrics());
    const agentAfterIdle = Object.fromEntries(agentCounts);
    const usage = processUsage(controllerPid);
    const rolloutRequests = diff(beforeRollout, requestsByVerb(afterRollout));
    const idleRequests = diff(requestsByVerb(afterRollout), requestsByVerb(afterIdle));
    const agentRollout = diff(agentBefore, agentAfterRollout);
    const agentIdle = diff(agentAfterRollout, agentAfterIdle);
    return {
      nodes: opts.nodes,
      rolloutSeconds,
      maxUnavailable: ((await custom.getClusterCustomObject(policyRef)) as UpdatePolicy).status?.maxUnavailable ?? NaN,
      maxInFlight: monitor.maxInFlight,
      samples: monitor.samples,
      updated: ourNus().filter((nu) => nu.status?.currentVersion === BENCH_NEW).length,
      controllerSetupRequestsPerNode: sum(beforeRollout) / opts.nodes,
      controllerSetupRequestsByVerb: beforeRollout,
      controllerRequestsPerNode: sum(rolloutRequests, isEvictionOrEvent) / opts.nodes,
      controllerRequestsByVerb: rolloutRequests,
      controllerIdleRequestsPerMinute: (sum(idleRequests) * 60_000) / idleMs,
      agentRequestsPerNode: sum(agentRollout) / opts.nodes,
      agentRequestsByVerb: agentRollout,
      agentIdleRequestsPerNodePerHeartbeat: sum(agentIdle) / opts.nodes / (idleMs / heartbeatMs),
      reconcile: reconcileLatency(afterIdle),
      controllerPeakRssMiB: usage.peakRssMiB,
      controllerCpuSeconds: usage.cpuSeconds,
    };
  } finally {
    clearInterval(leaseTimer);
    await controller?.kill('SIGKILL');
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

/** The result as one row of the README table. */
export function formatBenchRow(r: OperatorBenchResult): string {
  return [
    r.nodes,
    `${r.rolloutSeconds.toFixed(0)} s`,
    `${r.maxInFlight} / ${r.maxUnavailable}`,
    `${r.controllerRequestsPerNode.toFixed(1)} (+ ${r.controllerSetupRequestsPerNode.toFixed(1)} setup)`,
    r.controllerIdleRequestsPerMinute.toFixed(1),
    r.agentIdleRequestsPerNodePerHeartbeat.toFixed(2),
    `${(r.reconcile.meanSeconds * 1000).toFixed(0)} ms / ≤ ${r.reconcile.p95Seconds} s`,
    `${r.controllerPeakRssMiB.toFixed(0)} MiB`,
    `${r.controllerCpuSeconds.toFixed(1)} s`,
  ].join(' | ');
}
