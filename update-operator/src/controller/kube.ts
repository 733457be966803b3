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
import { API_VERSION, GROUP, LABEL_IN_FLIGHT, LABEL_POLICY, NODE_UPDATE, UPDATE_POLICY, VERSION, type NodeUpdate, type NodeUpdateSpec, type NodeUpdateStatusPatch, type UpdatePolicyStatus } from '../model/api.js';
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

/** Counts each API request the controller makes (metrics, benchmark). */
export type RequestCounter = (verb: string, resource: string) => void;

const NU_REF = { group: GROUP, version: VERSION, plural: NODE_UPDATE.plural };

export class Kube {
  readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    private readonly count: RequestCounter = () => {},
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async patchNode(name: string, patch: NodePatch): Promise<V1Node> {
    this.count('patch', 'nodes');
    return this.core.patchNode({ name, body: patch }, MERGE_PATCH);
  }

  /**
   * Creates the node's NodeUpdate (owned by the Node, so it goes with it) and writes its Idle
   * status (a subresource: the create ignores it); returns the existing one on a race.
   */
  async createNodeUpdate(node: { name: string; uid: string }): Promise<NodeUpdate> {
    const body: NodeUpdate = {
      apiVersion: API_VERSION,
      kind: NODE_UPDATE.kind,
      metadata: { name: node.name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid }] },
      spec: { desiredState: 'Idle' },
    };
    try {
      this.count('create', NODE_UPDATE.plural);
      await this.custom.createClusterCustomObject({ ...NU_REF, body });
      return await this.patchNodeUpdateStatus(node.name, { state: 'Idle', stateSince: new Date().toISOString() });
    } catch (err) {
      if (!isApiCode(err, 409)) throw err;
      this.count('get', NODE_UPDATE.plural);
      return (await this.custom.getClusterCustomObject({ ...NU_REF, name: node.name })) as NodeUpdate;
    }
  }

  /**
   * The spec, and the labels of a node in flight (`policy`: the group it is in flight under;
   * undefined removes them): the admission's quorum read selects on the in-flight one.
   */
  async patchNodeUpdateSpec(name: string, spec: NodeUpdateSpec, policy: string | undefined): Promise<NodeUpdate> {
    // null removes targetVersion when going back to Idle, and the labels
    const labels = { [LABEL_IN_FLIGHT]: policy !== undefined ? 'true' : null, [LABEL_POLICY]: policy ?? null };
    const body = { metadata: { labels }, spec: { desiredState: spec.desiredState, targetVersion: spec.targetVersion ?? null } };
    this.count('patch', NODE_UPDATE.plural);
    return (await this.custom.patchClusterCustomObject({ ...NU_REF, name, body }, MERGE_PATCH)) as NodeUpdate;
  }

  async patchNodeUpdateStatus(name: string, status: NodeUpdateStatusPatch): Promise<NodeUpdate> {
    this.count('patch', `${NODE_UPDATE.plural}/status`);
    return (await this.custom.patchClusterCustomObjectStatus({ ...NU_REF, name, body: { status } }, MERGE_PATCH)) as NodeUpdate;
  }

  /** Quorum read (no resourceVersion: served from etcd) of the NodeUpdates labelled in flight. */
  async listInFlightNodeUpdates(): Promise<NodeUpdate[]> {
    this.count('list', NODE_UPDATE.plural);
    const list = (await this.custom.listClusterCustomObject({ ...NU_REF, labelSelector: `${LABEL_IN_FLIGHT}=true` })) as { items: NodeUpdate[] };
    return list.items;
  }

  async patchPolicyStatus(name: string, status: UpdatePolicyStatus & { pausedReason?: string | null }): Promise<void> {
    this.count('patch', `${UPDATE_POLICY.plural}/status`);
    await this.custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name, body: { status } }, MERGE_PATCH);
  }

  async podsOnNode(node: string): Promise<V1Pod[]> {
    this.count('list', 'pods');
    return (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items;
  }

  async evict(pod: PodRef): Promise<EvictionOutcome> {
    this.count('create', 'pods/eviction');
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
    this.count('delete', 'pods');
    try {
      await this.core.deleteNamespacedPod({ name: pod.name, namespace: pod.namespace, body: { preconditions: { uid: pod.uid } } });
    } catch (err) {
      if (!isApiCode(err, 404) && !isApiCode(err, 409)) throw err;
    }
  }

  /** No pod with this name and UID exists any more (a replacement with the same name does not count). */
  async podGone(pod: PodRef): Promise<boolean> {
    this.count('get', 'pods');
    try {
      const current = await this.core.readNamespacedPod({ name: pod.name, namespace: pod.namespace });
      return current.metadata?.uid !== pod.uid;
    } catch (err) {
      if (isApiCode(err, 404)) return true;
      throw err;
    }
  }

  /**
   * An Event about an object: in the object's namespace, or for a cluster-scoped one (NodeUpdate,
   * UpdatePolicy) in `default`, the only namespace the apiserver accepts for those (core/v1 Event
   * validation: the Event's namespace must match its involvedObject's, empty meaning default).
   */
  async event(involved: { kind: string; apiVersion: string; name: string; uid?: string; namespace?: string }, type: string, reason: string, message: string, component: string): Promise<void> {
    const now = new Date();
    this.count('create', 'events');
    await this.core.createNamespacedEvent({
      namespace: involved.namespace ?? 'default',
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
