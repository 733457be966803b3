/**
 * What the controller keeps of each object in its caches (a projection made on arrival: memory per
 * node), and which changes of them are worth a reconcile. Pure.
 */
import type { NodeUpdate, UpdatePolicy } from '../model/api.js';

/** The parts of a Node the controller reads. */
export interface NodeView {
  metadata: { name: string; uid: string; resourceVersion?: string; labels: Record<string, string>; annotations: Record<string, string> };
  unschedulable: boolean;
  ready: boolean;
  /** RFC 3339 (milliseconds): when the Ready condition last became True. */
  readySince: string | undefined;
}

interface RawCondition {
  type?: string;
  status?: string;
  lastTransitionTime?: string | Date;
}

interface RawNode {
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: RawCondition[] };
}

/** Projects a Node as the watch (wire JSON) or the typed client (Dates) returns it. */
export function projectNode(raw: unknown): NodeView {
  const node = raw as RawNode;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const isReady = ready?.status === 'True';
  const since = isReady && ready?.lastTransitionTime !== undefined ? new Date(ready.lastTransitionTime).toISOString() : undefined;
  return {
    metadata: {
      name: node.metadata?.name ?? '',
      uid: node.metadata?.uid ?? '',
      resourceVersion: node.metadata?.resourceVersion,
      labels: node.metadata?.labels ?? {},
      annotations: node.metadata?.annotations ?? {},
    },
    unschedulable: node.spec?.unschedulable === true,
    ready: isReady,
    readySince: since,
  };
}

/** A NodeUpdate without what nobody reads (managedFields, timestamps). */
export function projectNodeUpdate(raw: unknown): NodeUpdate {
  const nu = raw as NodeUpdate;
  const m = nu.metadata;
  return {
    apiVersion: nu.apiVersion,
    kind: nu.kind,
    metadata: { name: m.name, uid: m.uid, resourceVersion: m.resourceVersion, generation: m.generation, ...(m.labels ? { labels: m.labels } : {}) },
    spec: nu.spec,
    ...(nu.status ? { status: nu.status } : {}),
  };
}

export function projectPolicy(raw: unknown): UpdatePolicy {
  const p = raw as UpdatePolicy;
  return { apiVersion: p.apiVersion, kind: p.kind, metadata: { name: p.metadata.name, uid: p.metadata.uid, resourceVersion: p.metadata.resourceVersion, generation: p.metadata.generation }, spec: p.spec ?? {}, ...(p.status ? { status: p.status } : {}) };
}

const withoutVersion = <T extends { metadata: object }>(o: T): string => JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });

/** Did anything the controller reads change (a kubelet's status heartbeat does not count)? */
export function nodeChanged(previous: NodeView | undefined, next: NodeView): boolean {
  return previous === undefined || withoutVersion(previous) !== withoutVersion(next);
}

/** Did anything but the agent's heartbeat change? */
export function nodeUpdateChanged(previous: NodeUpdate | undefined, next: NodeUpdate): boolean {
  if (previous === undefined) return true;
  const strip = (nu: NodeUpdate) => withoutVersion({ ...nu, status: { ...nu.status, agentHeartbeat: undefined } });
  return strip(previous) !== strip(next);
}

/** Did a field the admission step reads change (state, versions, failure)? */
export function admissionInputsChanged(previous: NodeUpdate | undefined, next: NodeUpdate): boolean {
  const pick = (nu: NodeUpdate | undefined) => {
    const s = nu?.status ?? {};
    return JSON.stringify([s.state, s.currentVersion, s.availableVersion, s.lastFailure?.time, s.nextAttemptAt, nu?.metadata.labels]);
  };
  return pick(previous) !== pick(next);
}
