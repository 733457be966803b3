/**
 * An update host whose "disk" is a few fields, enough to follow prepare/activate/reboot: for tests
 * of the update API server and of its clients (the agent) that need no disk image or repository.
 */
import type { UpdateImage } from '../../src/api/protocol.js';
import type { RefreshResult } from '../../src/api/state-rules.js';
import type { HostFacts, UpdateHost } from '../../src/api/update-host.js';
import { ExitCode, UserError } from '../../src/common/errors.js';

type Set = 'A' | 'B';
const other = (s: Set): Set => (s === 'A' ? 'B' : 'A');
export const img = (version: string): UpdateImage => ({ variant: 'metal-k8s', arch: 'x86_64', version });

/** A host whose "disk" is a few fields: enough to follow prepare/activate/reboot. */
export class MemoryHost implements UpdateHost {
  active: Set = 'A';
  versions: Record<Set, string> = { A: '1.0.0', B: '' };
  inactiveValid = false;
  next: Set = 'A';
  successful = true;
  boots = 0;
  offered: string[] = ['1.1.0'];
  /** When set, prepare waits for it (to hold the lock open). */
  prepareGate: Promise<void> | undefined;
  prepareError: Error | undefined;
  lockHeldElsewhere = false;
  healthy = true;
  /** Like a real host: a reboot request returns and the host goes down later (`goDown`). */
  rebootLater = false;
  rebootError: Error | undefined;
  rebootRequests = 0;

  async facts(): Promise<HostFacts> {
    return {
      activeSet: this.active,
      running: img(this.versions[this.active]),
      nextToBoot: this.next,
      inactiveValid: this.inactiveValid,
      activeBootSuccessful: this.successful,
      bootId: `boot-${this.boots}`,
    };
  }
  async refresh(): Promise<RefreshResult> {
    const available = this.offered.filter((v) => v !== this.versions[this.active]);
    return { availableUpdates: available, chosenUpdate: available[0] ? img(available[0]) : null };
  }
  async prepare(version: string): Promise<UpdateImage> {
    this.inactiveValid = false;
    await this.prepareGate;
    if (this.prepareError) throw this.prepareError;
    this.versions[other(this.active)] = version;
    this.inactiveValid = true;
    return img(version);
  }
  async activate(): Promise<void> {
    this.next = other(this.active);
  }
  async deactivate(): Promise<void> {
    this.next = this.active;
  }
  async reboot(): Promise<void> {
    if (this.rebootError) throw this.rebootError;
    this.rebootRequests += 1;
    if (!this.rebootLater) this.goDown();
  }
  /** The host goes down and boots the set next to boot. */
  goDown(): void {
    this.boots += 1;
    this.active = this.next;
    this.successful = false;
    this.inactiveValid = true;
  }
  async markSuccessfulBoot(): Promise<void> {
    if (!this.healthy) throw new UserError('health check failed: kubelet not running');
    this.successful = true;
  }
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.lockHeldElsewhere) throw new UserError('lock /run/updog.lock is held by pid 4242', { exitCode: ExitCode.Busy });
    return fn();
  }
}
