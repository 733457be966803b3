import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { chooseNode } from './node-fit.js';

/**
 * The test cluster's stand-in for kube-scheduler: binds pending pods (no spec.nodeName) to a node
 * they fit (see node-fit.ts) through the real `pods/binding` subresource. Polls: simple, and cheap
 * at test-cluster sizes.
 */
export class PodBinder {
  private readonly core: CoreV1Api;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    kc: KubeConfig,
    private readonly intervalMs = 250,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the current pass. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.bindPendingPods();
      } catch {
        // the apiserver may be restarting or shutting down; the next pass retries
      }
      await sleep(this.intervalMs);
    }
  }

  /** One pass; returns how many pods it bound. */
  async bindPendingPods(): Promise<number> {
    const pending = (await this.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=' })).items.filter(
      (p) => p.metadata?.deletionTimestamp === undefined && p.status?.phase === 'Pending',
    );
    if (pending.length === 0) return 0;
    const nodes = (await this.core.listNode()).items;
    const podsPerNode = new Map<string, number>();
    for (const p of (await this.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName!=' })).items) {
      const node = p.spec?.nodeName ?? '';
      podsPerNode.set(node, (podsPerNode.get(node) ?? 0) + 1);
    }
    let bound = 0;
    for (const pod of pending) {
      const node = chooseNode(pod, nodes, podsPerNode);
      const nodeName = node?.metadata?.name;
      if (nodeName === undefined) continue;
      await this.bind(pod, nodeName);
      podsPerNode.set(nodeName, (podsPerNode.get(nodeName) ?? 0) + 1);
      bound++;
    }
    return bound;
  }

  private async bind(pod: V1Pod, nodeName: string): Promise<void> {
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    try {
      await this.core.createNamespacedPodBinding({
        name,
        namespace,
        body: { metadata: { name, namespace, uid: pod.metadata?.uid }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } },
      });
    } catch (err) {
      // 409: bound meanwhile; 404: deleted meanwhile. Either way nothing left to do for this pod.
      const code = (err as { code?: number }).code;
      if (code !== 409 && code !== 404) throw err;
    }
  }
}
