/**
 * Cordon and uncordon as merge patches of the Node, pure. The operator records the node's state
 * before it cordoned (annotation) so it never undoes an admin's cordon or load-balancer exclusion.
 */
import { ANNOTATION_PRIOR_CORDON, ANNOTATION_PRIOR_LB_EXCLUSION, LABEL_EXCLUDE_FROM_LB } from '../model/api.js';

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
