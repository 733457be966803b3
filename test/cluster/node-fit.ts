/**
 * The few scheduling rules the test cluster needs, as pure functions: a pod fits a node when the
 * node is Ready, its labels satisfy the pod's nodeSelector and required node affinity (DaemonSet
 * pods pin their node with `matchFields metadata.name`), and the pod tolerates the node's
 * NoSchedule/NoExecute taints (a cordoned node carries `node.kubernetes.io/unschedulable`).
 */
import type { V1Node, V1NodeSelectorRequirement, V1NodeSelectorTerm, V1Pod, V1Taint, V1Toleration } from '@kubernetes/client-node';

export const UNSCHEDULABLE_TAINT: V1Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

export function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * Taints kube-controller-manager's node lifecycle controller keeps on a node until it sees the node
 * Ready (the TaintNodesByCondition admission plugin puts `not-ready` on every new Node), and lifts
 * some time after the kubelet reports Ready: until then the node is Ready but takes no pods.
 */
const NODE_HEALTH_TAINT_KEYS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

/** Ready, and the node lifecycle controller has lifted its health taints: the node takes pods. */
export function isNodeReadyForPods(node: V1Node): boolean {
  return isNodeReady(node) && !(node.spec?.taints ?? []).some((t) => NODE_HEALTH_TAINT_KEYS.includes(t.key));
}

export function tolerates(tolerations: V1Toleration[], taint: V1Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

function requirementHolds(req: V1NodeSelectorRequirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

function termMatches(term: V1NodeSelectorTerm, node: V1Node): boolean {
  const labels = node.metadata?.labels ?? {};
  const fields: Record<string, string | undefined> = { 'metadata.name': node.metadata?.name };
  return (
    (term.matchExpressions ?? []).every((r) => requirementHolds(r, labels[r.key])) &&
    (term.matchFields ?? []).every((r) => requirementHolds(r, fields[r.key]))
  );
}

export function podFitsNode(pod: V1Pod, node: V1Node): boolean {
  if (!isNodeReady(node)) return false;
  const labels = node.metadata?.labels ?? {};
  if (!Object.entries(pod.spec?.nodeSelector ?? {}).every(([k, v]) => labels[k] === v)) return false;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms !== undefined && terms.length > 0 && !terms.some((t) => termMatches(t, node))) return false;
  const taints = [...(node.spec?.taints ?? []), ...(node.spec?.unschedulable === true ? [UNSCHEDULABLE_TAINT] : [])];
  const tolerations = pod.spec?.tolerations ?? [];
  return taints.every((taint) => (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') || tolerates(tolerations, taint));
}

/** The fitting node with the fewest pods (ties: name order), or undefined when none fits. */
export function chooseNode(pod: V1Pod, nodes: V1Node[], podsPerNode: ReadonlyMap<string, number>): V1Node | undefined {
  const count = (n: V1Node): number => podsPerNode.get(n.metadata?.name ?? '') ?? 0;
  return nodes
    .filter((n) => podFitsNode(pod, n))
    .sort((a, b) => count(a) - count(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))[0];
}
