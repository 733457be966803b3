/** The Kubernetes calls the controller makes, typed, with merge patches done right. */
import { isApiCode, KubeApiError, type KubeClient } from '../common/kube-client.js';
import { API_VERSION, LABEL_IN_FLIGHT, LABEL_POLICY, NODE_UPDATE, NODE_UPDATES_PATH, UPDATE_POLICY, UPDATE_POLICIES_PATH, type NodeUpdate, type NodeUpdateSpec, type NodeUpdateStatusPatch, type UpdatePolicyStatus } from '../model/api.js';
import { classifyEviction, type EvictionOutcome, type PodRef } from './drain-plan.js';
import type { NodePatch } from './node-effects.js';

/** The fields of a Pod the controller reads. */
export interface Pod {
  metadata?: { name?: string; namespace?: string; uid?: string; annotations?: Record<string, string>; ownerReferences?: { kind: string }[]; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

export function podRef(pod: Pod): PodRef {
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

const podPath = (pod: PodRef) => `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}`;

export class Kube {
  constructor(
    private readonly client: KubeClient,
    private readonly count: RequestCounter = () => {},
  ) {}

  async patchNode(name: string, patch: NodePatch): Promise<unknown> {
    this.count('patch', 'nodes');
    return this.client.request('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, { body: patch, mergePatch: true });
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
      await this.client.request('POST', NODE_UPDATES_PATH, { body });
      return await this.patchNodeUpdateStatus(node.name, { state: 'Idle', stateSince: new Date().toISOString() });
    } catch (err) {
      if (!isApiCode(err, 409)) throw err;
      this.count('get', NODE_UPDATE.plural);
      return this.client.request<NodeUpdate>('GET', `${NODE_UPDATES_PATH}/${encodeURIComponent(node.name)}`);
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
    return this.client.request<NodeUpdate>('PATCH', `${NODE_UPDATES_PATH}/${encodeURIComponent(name)}`, { body, mergePatch: true });
  }

  async patchNodeUpdateStatus(name: string, status: NodeUpdateStatusPatch): Promise<NodeUpdate> {
    this.count('patch', `${NODE_UPDATE.plural}/status`);
    return this.client.request<NodeUpdate>('PATCH', `${NODE_UPDATES_PATH}/${encodeURIComponent(name)}/status`, { body: { status }, mergePatch: true });
  }

  /** Quorum read (no resourceVersion: served from etcd) of the NodeUpdates labelled in flight. */
  async listInFlightNodeUpdates(): Promise<NodeUpdate[]> {
    this.count('list', NODE_UPDATE.plural);
    const list = await this.client.request<{ items?: NodeUpdate[] }>('GET', NODE_UPDATES_PATH, { query: { labelSelector: `${LABEL_IN_FLIGHT}=true` } });
    return list.items ?? [];
  }

  async patchPolicyStatus(name: string, status: UpdatePolicyStatus & { pausedReason?: string | null }): Promise<void> {
    this.count('patch', `${UPDATE_POLICY.plural}/status`);
    await this.client.request('PATCH', `${UPDATE_POLICIES_PATH}/${encodeURIComponent(name)}/status`, { body: { status }, mergePatch: true });
  }

  async podsOnNode(node: string): Promise<Pod[]> {
    this.count('list', 'pods');
    const list = await this.client.request<{ items?: Pod[] }>('GET', '/api/v1/pods', { query: { fieldSelector: `spec.nodeName=${node}` } });
    return list.items ?? [];
  }

  async evict(pod: PodRef): Promise<EvictionOutcome> {
    this.count('create', 'pods/eviction');
    try {
      await this.client.request('POST', `${podPath(pod)}/eviction`, {
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod.name, namespace: pod.namespace }, deleteOptions: { preconditions: { uid: pod.uid } } },
      });
      return { kind: 'evicted' };
    } catch (err) {
      if (err instanceof KubeApiError) return classifyEviction(err.code, err.body, err.headers);
      throw err;
    }
  }

  async deletePod(pod: PodRef): Promise<void> {
    this.count('delete', 'pods');
    try {
      await this.client.request('DELETE', podPath(pod), { body: { preconditions: { uid: pod.uid } } });
    } catch (err) {
      if (!isApiCode(err, 404) && !isApiCode(err, 409)) throw err;
    }
  }

  /** No pod with this name and UID exists any more (a replacement with the same name does not count). */
  async podGone(pod: PodRef): Promise<boolean> {
    this.count('get', 'pods');
    try {
      const current = await this.client.request<Pod>('GET', podPath(pod));
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
    await this.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(involved.namespace ?? 'default')}/events`, {
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
