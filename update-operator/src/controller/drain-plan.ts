/**
 * Drain rules of `kubectl drain`, pure: which pods to evict, and what an eviction answer means.
 */

/** The parts of a pod the drain looks at. */
export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
  ownerKinds: string[];
  annotations: Record<string, string>;
  deleting: boolean;
}

export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

export type PodPlan = { pod: PodRef; action: 'evict' | 'wait' | 'skip'; why: string };

/** DaemonSet and mirror (static) pods stay; pods already being deleted are only waited for. */
export function planPod(pod: PodRef): PodPlan {
  if (pod.annotations[MIRROR_POD_ANNOTATION] !== undefined) return { pod, action: 'skip', why: 'mirror pod' };
  if (pod.ownerKinds.includes('DaemonSet')) return { pod, action: 'skip', why: 'DaemonSet pod' };
  if (pod.deleting) return { pod, action: 'wait', why: 'already terminating' };
  return { pod, action: 'evict', why: 'evictable' };
}

/** A pod that tells autoscalers not to disrupt its node (Karpenter's annotation, also on pods). */
export const POD_DO_NOT_DISRUPT_ANNOTATION = 'karpenter.sh/do-not-disrupt';

/** Why these pods keep their node from being drained (a pod the drain would evict asks not to be disrupted), or undefined. */
export function podDisruptionHold(pods: PodRef[]): string | undefined {
  const pod = pods.find((p) => planPod(p).action === 'evict' && p.annotations[POD_DO_NOT_DISRUPT_ANNOTATION] === 'true');
  return pod === undefined ? undefined : `pod ${pod.namespace}/${pod.name} annotated ${POD_DO_NOT_DISRUPT_ANNOTATION}="true"`;
}

/** Shortest wait before retrying a refused eviction, whatever the server says. */
export const MIN_EVICTION_RETRY_SECONDS = 5;

export type EvictionOutcome =
  | { kind: 'evicted' }
  | { kind: 'gone' }
  | { kind: 'retry'; afterSeconds: number; pdb: string | undefined; message: string }
  | { kind: 'error'; message: string };

interface StatusBody {
  message?: string;
  details?: { retryAfterSeconds?: number; causes?: Array<{ type?: string; reason?: string; message?: string }> };
}

function parseBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as StatusBody;
}

/** The PDB named in a refused eviction ("The disruption budget web-pdb needs 2 healthy pods..."). */
export function pdbFromStatus(status: StatusBody): string | undefined {
  for (const text of [...(status.details?.causes ?? []).map((c) => c.message ?? ''), status.message ?? '']) {
    const m = /disruption budget (\S+?)[\s.,]/.exec(`${text} `);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Classifies the answer to a policy/v1 Eviction: 2xx evicted, 404 gone, 429 retry (waiting the
 * server's Retry-After / retryAfterSeconds, at least 5 s), anything else an error worth retrying later.
 */
export function classifyEviction(code: number, body: unknown, headers: Record<string, string> = {}): EvictionOutcome {
  if (code >= 200 && code < 300) return { kind: 'evicted' };
  if (code === 404) return { kind: 'gone' };
  const status = parseBody(body);
  const message = status.message ?? `HTTP ${code}`;
  if (code === 429) {
    const header = Number(headers['retry-after'] ?? headers['Retry-After']);
    const server = status.details?.retryAfterSeconds ?? (Number.isFinite(header) ? header : 0);
    return { kind: 'retry', afterSeconds: Math.max(MIN_EVICTION_RETRY_SECONDS, server), pdb: pdbFromStatus(status), message };
  }
  return { kind: 'error', message: `${message} (HTTP ${code})` };
}
