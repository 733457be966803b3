/**
 * Drains one node: evict every evictable pod, wait for each to be gone by UID, enforce the per-pod
 * and overall deadlines, escalate as the policy says. Kubernetes access and the clock are injected
 * so the retry rules are tested without waiting.
 */
import type { DrainPolicy } from '../model/api.js';
import type { DrainVerdict } from './state-machine.js';
import type { EvictionOutcome, PodRef } from './drain-plan.js';
import { MIN_EVICTION_RETRY_SECONDS, planPod } from './drain-plan.js';

export interface DrainDeps {
  listPods(node: string): Promise<PodRef[]>;
  evict(pod: PodRef): Promise<EvictionOutcome>;
  /** Delete bypassing the PDB (escalation ForceDeleteAfter). */
  forceDelete(pod: PodRef): Promise<void>;
  /** True when no pod with this name and UID exists any more. */
  gone(pod: PodRef): Promise<boolean>;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Stop early (leadership lost, shutdown): the drain ends without a result. */
  cancelled(): boolean;
  log(msg: string, fields?: Record<string, unknown>): void;
}

/** How often pending pods are re-checked. */
export const DRAIN_POLL_MS = 1000;

interface Pending {
  pod: PodRef;
  firstTry: number;
  nextTry: number;
  requested: boolean;
  pdb: string | undefined;
  lastRefusal: string | undefined;
}

const podName = (p: PodRef) => `${p.namespace}/${p.name}`;

function blocked(p: Pending, why: string): DrainVerdict {
  const by = p.pdb ? ` by PodDisruptionBudget ${p.pdb}` : '';
  const message = `${why}: pod ${podName(p.pod)} not evicted${by}${p.lastRefusal ? ` (${p.lastRefusal})` : ''}`;
  return {
    ok: false,
    reason: 'DrainBlocked',
    message,
    condition: { type: 'DrainBlocked', status: 'True', reason: p.pdb ? 'PodDisruptionBudget' : 'Timeout', message },
  };
}

/**
 * Returns when the node is empty (ok), when a deadline gives up (DrainBlocked naming pod and PDB),
 * or undefined when cancelled. `startedAt` (ms) is when the Draining phase began, so a new leader
 * resuming a drain keeps the original overall deadline.
 */
export async function drainNode(node: string, startedAt: number, policy: Required<DrainPolicy>, deps: DrainDeps): Promise<DrainVerdict | undefined> {
  const now0 = deps.now();
  const pending: Pending[] = (await deps.listPods(node))
    .map(planPod)
    .filter((p) => p.action !== 'skip')
    .map((p) => ({ pod: p.pod, firstTry: now0, nextTry: now0, requested: p.action === 'wait', pdb: undefined, lastRefusal: undefined }));
  deps.log('drain plan', { node, pods: pending.map((p) => podName(p.pod)) });
  while (pending.length > 0) {
    if (deps.cancelled()) return undefined;
    const now = deps.now();
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!;
      if (p.requested && (await deps.gone(p.pod))) {
        pending.splice(i, 1);
        continue;
      }
      if (!p.requested && now >= p.nextTry) await tryEvict(p, now, deps, () => pending.splice(i, 1));
    }
    if (pending.length === 0) break;
    const overdue = pending.find((p) => now - p.firstTry > policy.podTimeoutSeconds * 1000);
    if (now - startedAt > policy.timeoutSeconds * 1000) return blocked(overdue ?? pending[0]!, `drain deadline of ${policy.timeoutSeconds}s passed`);
    if (overdue) {
      if (policy.escalation === 'GiveUp') return blocked(overdue, `pod deadline of ${policy.podTimeoutSeconds}s passed`);
      if (policy.escalation === 'ForceDeleteAfter' && !overdue.requested) {
        deps.log('force-deleting pod past its deadline', { node, pod: podName(overdue.pod), pdb: overdue.pdb });
        await deps.forceDelete(overdue.pod);
        overdue.requested = true;
      }
    }
    await deps.sleep(DRAIN_POLL_MS);
  }
  return { ok: true };
}

async function tryEvict(p: Pending, now: number, deps: DrainDeps, done: () => void): Promise<void> {
  const outcome = await deps.evict(p.pod);
  switch (outcome.kind) {
    case 'evicted':
      p.requested = true;
      return;
    case 'gone':
      done();
      return;
    case 'retry':
      p.pdb = outcome.pdb ?? p.pdb;
      p.lastRefusal = outcome.message;
      p.nextTry = now + outcome.afterSeconds * 1000;
      deps.log('eviction refused; retrying', { pod: podName(p.pod), pdb: outcome.pdb, afterSeconds: outcome.afterSeconds });
      return;
    case 'error':
      p.lastRefusal = outcome.message;
      p.nextTry = now + MIN_EVICTION_RETRY_SECONDS * 1000;
      deps.log('eviction failed; retrying', { pod: podName(p.pod), error: outcome.message });
      return;
  }
}
