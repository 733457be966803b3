/** The Kubernetes calls the controller makes, typed, with merge patches done right. */
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { API_VERSION, GROUP, NODE_UPDATE, UPDATE_POLICY, VERSION, type NodeUpdate, type NodeUpdateSpec, type NodeUpdateStatusPatch, type UpdatePolicy, type UpdatePolicyStatus } from '../model/api.js';
import { classifyEviction, type EvictionOutcome, type PodRef } from './drain-plan.js';
import type { NodePatch } from './node-effects.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export const isApiCode = (err: unknown, code: number): boolean => err instanceof ApiException && err.code === code;

export function podRef(pod: V1Pod): PodRef {
  return {
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    ownerKinds: (pod.metadata?.ownerReferences ?? []).map((o) => o.kind),
    annotations: pod.metadata?.annotations ?? {},
    deleting: pod.metadata?.deletionTimestamp !== undefined,
  };
}

export class Kube {
  readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async listNodes(): Promise<V1Node[]> {
    return (await this.core.listNode()).items;
  }

  async patchNode(name: string, patch: NodePatch): Promise<V1Node> {
    return this.core.patchNode({ name, body: patch }, MERGE_PATCH);
  }

  async listNodeUpdates(): Promise<NodeUpdate[]> {
    const list = (await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural })) as { items: NodeUpdate[] };
    return list.items;
  }

  /** Creates the node's NodeUpdate (owned by the Node, so it goes with it); returns the existing one on a race. */
  async ensureNodeUpdate(node: V1Node): Promise<NodeUpdate> {
    const name = node.metadata?.name ?? '';
    const body: NodeUpdate = {
      apiVersion: API_VERSION,
      kind: NODE_UPDATE.kind,
      metadata: { name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata?.uid ?? '' }] },
      spec: { desiredState: 'Idle' },
    };
    try {
      await this.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, body });
      // status is a subresource: the create ignores it
      return await this.patchNodeUpdateStatus(name, { state: 'Idle', stateSince: new Date().toISOString() });
    } catch (err) {
      if (!isApiCode(err, 409)) throw err;
      return (await this.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name })) as NodeUpdate;
    }
  }

  async patchNodeUpdateSpec(name: string, spec: NodeUpdateSpec): Promise<NodeUpdate> {
    // null removes targetVersion when going back to Idle
    const body = { spec: { desiredState: spec.desiredState, targetVersion: spec.targetVersion ?? null } };
    return (await this.custom.patchClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name, body }, MERGE_PATCH)) as NodeUpdate;
  }

  async patchNodeUpdateStatus(name: string, status: NodeUpdateStatusPatch): Promise<NodeUpdate> {
    return (await this.custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name, body: { status } }, MERGE_PATCH)) as NodeUpdate;
  }

  /** The policy, or undefined when it does not exist (then every default applies). */
  async getPolicy(name: string): Promise<UpdatePolicy | undefined> {
    try {
      return (await this.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name })) as UpdatePolicy;
    } catch (err) {
      if (isApiCode(err, 404)) return undefined;
      throw err;
    }
  }

  async patchPolicyStatus(name: string, status: UpdatePolicyStatus & { pausedReason?: string | null }): Promise<void> {
    await this.custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name, body: { status } }, MERGE_PATCH);
  }

  async podsOnNode(node: string): Promise<V1Pod[]> {
    return (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items;
  }

  async evict(pod: PodRef): Promise<EvictionOutcome> {
    try {
      await this.core.createNamespacedPodEviction({
        name: pod.name,
        namespace: pod.namespace,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod.name, namespace: pod.namespace }, deleteOptions: { preconditions: { uid: pod.uid } } },
      });
      return { kind: 'evicted' };
    } catch (err) {
      if (err instanceof ApiException) return classifyEviction(err.code, err.body, err.headers);
      throw err;
    }
  }

  async deletePod(pod: PodRef): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ name: pod.name, namespace: pod.namespace, body: { preconditions: { uid: pod.uid } } });
    } catch (err) {
      if (!isApiCode(err, 404) && !isApiCode(err, 409)) throw err;
    }
  }

  /** No pod with this name and UID exists any more (a replacement with the same name does not count). */
  async podGone(pod: PodRef): Promise<boolean> {
    try {
      const current = await this.core.readNamespacedPod({ name: pod.name, namespace: pod.namespace });
      return current.metadata?.uid !== pod.uid;
    } catch (err) {
      if (isApiCode(err, 404)) return true;
      throw err;
    }
  }

  /** An Event about a cluster-scoped object (the apiserver requires those in `default`). */
  async event(involved: { kind: string; apiVersion: string; name: string; uid?: string }, type: string, reason: string, message: string, component: string): Promise<void> {
    const now = new Date();
    await this.core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: `${involved.name}.` },
        involvedObject: involved,
        type,
        reason,
        message,
        source: { component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}
