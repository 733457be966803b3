/**
 * Workloads for drain/eviction tests. No container ever runs (the simulated kubelet only reports
 * status), so the image is a placeholder. Pass `nodeSelector` (e.g. your test's node label) so
 * the pods land only on your test's simulated nodes.
 */
import { AppsV1Api, CoreV1Api, PolicyV1Api, type KubeConfig, type V1DaemonSet, type V1Deployment, type V1PodDisruptionBudget, type V1Pod, type V1PodSpec } from '@kubernetes/client-node';
import { ignoreConflict } from './cluster.js';

const PLACEHOLDER_IMAGE = 'registry.k8s.io/pause:3.10';

export interface WorkloadOptions {
  namespace: string;
  name: string;
  nodeSelector?: Record<string, string>;
  labels?: Record<string, string>;
}

export async function ensureNamespace(kc: KubeConfig, namespace: string): Promise<void> {
  await ignoreConflict(kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } }));
}

function podSpec(opts: WorkloadOptions, extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    containers: [{ name: 'main', image: PLACEHOLDER_IMAGE }],
    terminationGracePeriodSeconds: 30,
    ...(opts.nodeSelector ? { nodeSelector: opts.nodeSelector } : {}),
    ...extra,
  };
}

function appLabels(opts: WorkloadOptions): Record<string, string> {
  return { app: opts.name, ...opts.labels };
}

export interface DeploymentWithPdbOptions extends WorkloadOptions {
  replicas: number;
  /** PDB minAvailable (number or percentage); exactly one of minAvailable/maxUnavailable. */
  minAvailable?: number | string;
  maxUnavailable?: number | string;
}

/** A Deployment and a PodDisruptionBudget (same name) selecting its pods. */
export async function createDeploymentWithPdb(
  kc: KubeConfig,
  opts: DeploymentWithPdbOptions,
): Promise<{ deployment: V1Deployment; pdb: V1PodDisruptionBudget }> {
  if ((opts.minAvailable === undefined) === (opts.maxUnavailable === undefined)) {
    throw new Error('createDeploymentWithPdb needs exactly one of minAvailable and maxUnavailable');
  }
  await ensureNamespace(kc, opts.namespace);
  const labels = appLabels(opts);
  const deployment = await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: opts.namespace,
    body: {
      metadata: { name: opts.name, labels },
      spec: { replicas: opts.replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec(opts) } },
    },
  });
  const pdb = await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
    namespace: opts.namespace,
    body: {
      metadata: { name: opts.name },
      spec: {
        selector: { matchLabels: labels },
        ...(opts.minAvailable !== undefined ? { minAvailable: opts.minAvailable } : { maxUnavailable: opts.maxUnavailable }),
      },
    },
  });
  return { deployment, pdb };
}

export async function createDaemonSet(kc: KubeConfig, opts: WorkloadOptions): Promise<V1DaemonSet> {
  await ensureNamespace(kc, opts.namespace);
  const labels = appLabels(opts);
  return kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
    namespace: opts.namespace,
    body: { metadata: { name: opts.name, labels }, spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec(opts) } } },
  });
}

/** A pod no controller owns (kubectl drain refuses these without --force). */
export async function createBarePod(kc: KubeConfig, opts: WorkloadOptions): Promise<V1Pod> {
  await ensureNamespace(kc, opts.namespace);
  return kc.makeApiClient(CoreV1Api).createNamespacedPod({
    namespace: opts.namespace,
    body: { metadata: { name: opts.name, labels: appLabels(opts) }, spec: podSpec(opts) },
  });
}

/** A bare pod with an emptyDir volume (kubectl drain needs --delete-emptydir-data for these). */
export async function createPodWithEmptyDir(kc: KubeConfig, opts: WorkloadOptions): Promise<V1Pod> {
  await ensureNamespace(kc, opts.namespace);
  const spec = podSpec(opts, { volumes: [{ name: 'scratch', emptyDir: {} }] });
  spec.containers[0] = { ...spec.containers[0]!, volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] };
  return kc.makeApiClient(CoreV1Api).createNamespacedPod({
    namespace: opts.namespace,
    body: { metadata: { name: opts.name, labels: appLabels(opts) }, spec },
  });
}
