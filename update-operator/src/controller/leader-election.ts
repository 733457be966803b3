/**
 * Leader election on a coordination.k8s.io/v1 Lease, in the manner of client-go: a candidate
 * takes the Lease when it is free or when its holder has not renewed it for leaseDuration as
 * measured on the candidate's own clock (so clock skew between replicas does not matter); writes
 * are optimistic (resourceVersion), so two candidates cannot both win.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isApiCode, type KubeClient } from '../common/kube-client.js';
import type { Logger } from '@updog-ts/updog/common';

export interface LeaseRecord {
  holder: string | undefined;
  leaseDurationSeconds: number | undefined;
  transitions: number;
}

export type LeaseDecision = 'renew' | 'acquire' | 'wait';

/**
 * What a candidate should do, pure. `observedSince` is when this candidate first saw the current
 * record unchanged (its own clock).
 */
export function decideLease(record: LeaseRecord | undefined, identity: string, observedSince: number, now: number, leaseDurationMs: number): LeaseDecision {
  if (record === undefined || !record.holder) return 'acquire';
  if (record.holder === identity) return 'renew';
  return now - observedSince >= leaseDurationMs ? 'acquire' : 'wait';
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** A leader that cannot renew for this long steps down (must be < leaseDurationMs). */
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** Lease times are metav1.MicroTime, which the apiserver parses with exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The fields of a coordination.k8s.io/v1 Lease this uses. */
interface Lease {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

function toRecord(lease: Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holder: spec.holderIdentity ?? undefined,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    transitions: spec.leaseTransitions ?? 0,
  };
}

export class LeaderElector {
  private observed: { key: string; since: number } | undefined;
  private lastRenew = 0;
  private leading = false;
  private stopped = false;
  /** The campaign loop run() started; stop() waits for it so no renewal races the release. */
  private campaign: Promise<void> | undefined;
  /** Ends the loop's sleep between attempts early, so stop() does not wait out a retry period. */
  private readonly wake = new AbortController();

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
  ) {}

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until stop(); calls onStarted when this replica becomes leader and onStopped when it
   * loses the Lease (a replica that lost it should exit: its in-memory work is stale).
   */
  run(onStarted: () => void, onStopped: () => void): Promise<void> {
    this.campaign ??= this.campaignUntilStopped(onStarted, onStopped);
    return this.campaign;
  }

  /**
   * Stops campaigning and, if leading, releases the Lease so another replica takes over at once.
   * Resolves once the campaign loop has ended and the release is written (or failed: logged).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    await this.campaign;
  }

  private async campaignUntilStopped(onStarted: () => void, onStopped: () => void): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'lease update failed');
      }
      const now = Date.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became leader');
          onStarted();
        }
      } else if (this.leading && now - this.lastRenew > this.opts.renewDeadlineMs) {
        this.leading = false;
        this.log.error({ identity: this.opts.identity }, 'lost leadership: could not renew the lease in time');
        onStopped();
      }
      await sleep(this.opts.retryPeriodMs, undefined, { signal: this.wake.signal }).catch(() => undefined);
    }
    // Only now, with no acquire or renew of ours in flight: one that read the Lease before the
    // release would otherwise either make the release conflict or take the released Lease again.
    if (this.leading) {
      this.leading = false;
      await this.release();
    }
  }

  private leasesPath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  private leasePath(): string {
    return `${this.leasesPath()}/${encodeURIComponent(this.opts.name)}`;
  }

  /** Like client-go's ReleaseOnCancel: no holder, a 1 s duration; a conflict means re-read, as the Lease may still be ours. */
  private async release(): Promise<void> {
    const { identity } = this.opts;
    for (;;) {
      try {
        const lease = await this.client.request<Lease>('GET', this.leasePath());
        if (lease.spec?.holderIdentity !== identity) return;
        const now = microTime(new Date());
        lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
        await this.client.request('PUT', this.leasePath(), { body: lease });
        return;
      } catch (err) {
        if (isApiCode(err, 409)) continue;
        this.log.warn({ err: (err as Error).message }, 'could not release the lease');
        return;
      }
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.opts;
    const now = microTime(new Date());
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.client.request<Lease>('GET', this.leasePath());
    } catch (err) {
      if (!isApiCode(err, 404)) throw err;
      const body = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      };
      try {
        await this.client.request('POST', this.leasesPath(), { body });
        return true;
      } catch (createErr) {
        if (isApiCode(createErr, 409)) return false; // another replica created it first
        throw createErr;
      }
    }
    const record = toRecord(lease);
    // any write (a renewal included) changes the resourceVersion
    const key = lease.metadata?.resourceVersion ?? '';
    if (this.observed?.key !== key) this.observed = { key, since: Date.now() };
    const holderDurationMs = (record.leaseDurationSeconds ?? durationSeconds) * 1000;
    const decision = decideLease(record, identity, this.observed.since, Date.now(), holderDurationMs);
    if (decision === 'wait') return false;
    const acquiring = decision === 'acquire';
    lease.spec = {
      ...lease.spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: now,
      // like client-go: every change of holder counts, a released lease included
      ...(acquiring ? { acquireTime: now, leaseTransitions: record.transitions + 1 } : {}),
    };
    try {
      await this.client.request('PUT', this.leasePath(), { body: lease });
      return true;
    } catch (err) {
      if (isApiCode(err, 409)) return false; // someone else wrote it since we read it
      throw err;
    }
  }
}
