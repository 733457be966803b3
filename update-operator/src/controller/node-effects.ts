/**
 * Cordon and uncordon as merge patches of the Node, pure. The operator records the node's state
 * before it cordoned (annotation) so it never undoes an admin's cordon or load-balancer exclusion,
 * and, with the cordon, holds the node against autoscalers (restoring their annotations after).
 */
import { ANNOTATION_PRIOR_AUTOSCALER_HOLD, ANNOTATION_PRIOR_CORDON, ANNOTATION_PRIOR_LB_EXCLUSION, LABEL_EXCLUDE_FROM_LB } from '../model/api.js';

export interface NodeSnapshot {
  unschedulable: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export type NodePatch = { metadata?: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> }; spec?: { unschedulable: boolean | null } };

/** Cordon (and optionally exclude from load balancers); null when already done. Idempotent. */
export function cordonPatch(node: NodeSnapshot, excludeFromLb: boolean): NodePatch | null {
  const annotations: Record<string, string> = {};
  const labels: Record<string, string> = {};
  if (node.annotations[ANNOTATION_PRIOR_CORDON] === undefined) annotations[ANNOTATION_PRIOR_CORDON] = String(node.unschedulable);
  if (excludeFromLb && node.annotations[ANNOTATION_PRIOR_LB_EXCLUSION] === undefined) {
    annotations[ANNOTATION_PRIOR_LB_EXCLUSION] = String(node.labels[LABEL_EXCLUDE_FROM_LB] !== undefined);
    if (node.labels[LABEL_EXCLUDE_FROM_LB] === undefined) labels[LABEL_EXCLUDE_FROM_LB] = 'true';
  }
  const patch: NodePatch = {};
  if (Object.keys(annotations).length > 0 || Object.keys(labels).length > 0) {
    patch.metadata = { ...(Object.keys(annotations).length ? { annotations } : {}), ...(Object.keys(labels).length ? { labels } : {}) };
  }
  if (!node.unschedulable) patch.spec = { unschedulable: true };
  return Object.keys(patch).length > 0 ? patch : null;
}

/** Undo what cordonPatch did, keeping whatever was there before; null when there is nothing of ours. */
export function uncordonPatch(node: NodeSnapshot): NodePatch | null {
  const priorCordon = node.annotations[ANNOTATION_PRIOR_CORDON];
  const priorLb = node.annotations[ANNOTATION_PRIOR_LB_EXCLUSION];
  if (priorCordon === undefined && priorLb === undefined) return null;
  const patch: NodePatch = { metadata: { annotations: {} } };
  if (priorCordon !== undefined) {
    patch.metadata!.annotations![ANNOTATION_PRIOR_CORDON] = null;
    if (priorCordon === 'false' && node.unschedulable) patch.spec = { unschedulable: null };
  }
  if (priorLb !== undefined) {
    patch.metadata!.annotations![ANNOTATION_PRIOR_LB_EXCLUSION] = null;
    if (priorLb === 'false' && node.labels[LABEL_EXCLUDE_FROM_LB] !== undefined) patch.metadata!.labels = { [LABEL_EXCLUDE_FROM_LB]: null };
  }
  return patch;
}

/** Node annotations that tell autoscalers to leave a node alone (Karpenter, cluster-autoscaler). */
export const AUTOSCALER_HOLD_ANNOTATIONS = ['karpenter.sh/do-not-disrupt', 'cluster-autoscaler.kubernetes.io/scale-down-disabled'] as const;

/** The hold annotations' values before the operator set them (JSON object; absent keys were unset). */
function priorHolds(node: NodeSnapshot): Record<string, string> | undefined {
  const recorded = node.annotations[ANNOTATION_PRIOR_AUTOSCALER_HOLD];
  if (recorded === undefined) return undefined;
  try {
    return JSON.parse(recorded) as Record<string, string>;
  } catch {
    return {};
  }
}

/** Marks a node in flight so autoscalers do not remove it; null when already marked. Idempotent. */
export function holdPatch(node: NodeSnapshot): NodePatch | null {
  const annotations: Record<string, string> = {};
  if (priorHolds(node) === undefined) {
    const prior = Object.fromEntries(AUTOSCALER_HOLD_ANNOTATIONS.flatMap((k) => (node.annotations[k] !== undefined ? [[k, node.annotations[k]]] : [])));
    annotations[ANNOTATION_PRIOR_AUTOSCALER_HOLD] = JSON.stringify(prior);
  }
  for (const k of AUTOSCALER_HOLD_ANNOTATIONS) if (node.annotations[k] !== 'true') annotations[k] = 'true';
  return Object.keys(annotations).length > 0 ? { metadata: { annotations } } : null;
}

/** Puts the hold annotations back as they were; null when the operator holds nothing. */
export function releasePatch(node: NodeSnapshot): NodePatch | null {
  const prior = priorHolds(node);
  if (prior === undefined) return null;
  const annotations: Record<string, string | null> = { [ANNOTATION_PRIOR_AUTOSCALER_HOLD]: null };
  for (const k of AUTOSCALER_HOLD_ANNOTATIONS) annotations[k] = prior[k] ?? null;
  return { metadata: { annotations } };
}

/** Why a node must not be disrupted now (an autoscaler hold the operator did not set), or undefined. */
export function disruptionHold(node: NodeSnapshot): string | undefined {
  const prior = priorHolds(node);
  for (const k of AUTOSCALER_HOLD_ANNOTATIONS) {
    const value = prior === undefined ? node.annotations[k] : prior[k];
    if (value === 'true') return `node annotated ${k}="true"`;
  }
  return undefined;
}

/** One merge patch doing both (either may be null). */
export function mergeNodePatches(a: NodePatch | null, b: NodePatch | null): NodePatch | null {
  if (a === null || b === null) return a ?? b;
  const labels = { ...a.metadata?.labels, ...b.metadata?.labels };
  const annotations = { ...a.metadata?.annotations, ...b.metadata?.annotations };
  const metadata = { ...(Object.keys(labels).length ? { labels } : {}), ...(Object.keys(annotations).length ? { annotations } : {}) };
  return { ...(Object.keys(metadata).length ? { metadata } : {}), ...(a.spec || b.spec ? { spec: { ...a.spec, ...b.spec } as { unschedulable: boolean | null } } : {}) };
}
