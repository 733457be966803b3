/**
 * A host update API in memory, for the operator benchmark's simulated nodes: the same calls and
 * status documents as `updog serve` (StatusResponse), over a two-set "disk" of a few fields instead
 * of a disk image, so a thousand hosts fit in one process. A reboot request returns at once and the
 * host goes down a moment later, like a real one; the boot picks the set next to boot.
 */
import { randomUUID } from 'node:crypto';
import type { HostUpdateApi } from '@updog-ts/update-operator';
import type { PartitionSetName, StatusResponse, UpdateImage } from '@updog-ts/updog/host-api';
import { DEFAULT_ARCH, DEFAULT_VARIANT } from './sim-host.js';

const other = (s: PartitionSetName): PartitionSetName => (s === 'A' ? 'B' : 'A');
const image = (version: string): UpdateImage => ({ variant: DEFAULT_VARIANT, arch: DEFAULT_ARCH, version });

export class BenchHost implements HostUpdateApi {
  private active: PartitionSetName = 'A';
  private readonly versions: Record<PartitionSetName, string | undefined>;
  private next: PartitionSetName = 'A';
  private inactiveValid = false;
  private successful = true;
  private bootId = randomUUID();
  private rebootRequestedInBoot: string | null = null;
  /** Calls made, by command (status included). */
  readonly calls = new Map<string, number>();

  constructor(
    version: string,
    /** What the repository offers (newest). */
    private readonly offered: string,
    /** Takes the node down and back up; calls `boot()` in between. */
    private readonly onReboot: () => void,
  ) {
    this.versions = { A: version, B: undefined };
  }

  private count(call: string): void {
    this.calls.set(call, (this.calls.get(call) ?? 0) + 1);
  }

  private document(): StatusResponse {
    const staged = this.inactiveValid ? this.versions[other(this.active)] : undefined;
    const running = this.versions[this.active]!;
    const chosen = this.offered !== running ? image(this.offered) : null;
    return {
      updateState: staged !== undefined ? (this.next !== this.active ? 'Ready' : 'Staged') : chosen ? 'Available' : 'Idle',
      availableUpdates: chosen ? [this.offered] : [],
      chosenUpdate: chosen,
      activePartition: { set: this.active, image: image(running), nextToBoot: this.next === this.active },
      stagingPartition: staged !== undefined ? { set: other(this.active), image: image(staged), nextToBoot: this.next !== this.active } : null,
      mostRecentCommand: null,
      rebootRequestedInBoot: this.rebootRequestedInBoot,
      running: { set: this.active, version: running, bootId: this.bootId },
      rebootPending: this.rebootRequestedInBoot === this.bootId,
      activeBootSuccessful: this.successful,
      commandInProgress: null,
      prepareProgress: null,
    };
  }

  async status(): Promise<StatusResponse> {
    this.count('status');
    return this.document();
  }
  async refresh(): Promise<StatusResponse> {
    this.count('refresh');
    return this.document();
  }
  async prepare(version: string): Promise<StatusResponse> {
    this.count('prepare');
    if (version !== this.offered) throw new Error(`version ${version} is not offered`);
    this.versions[other(this.active)] = version;
    this.inactiveValid = true;
    return this.document();
  }
  async activate(): Promise<StatusResponse> {
    this.count('activate');
    if (!this.inactiveValid) throw new Error('nothing staged to activate');
    this.next = other(this.active);
    return this.document();
  }
  async deactivate(): Promise<StatusResponse> {
    this.count('deactivate');
    this.next = this.active;
    return this.document();
  }
  async reboot(): Promise<StatusResponse> {
    this.count('reboot');
    this.rebootRequestedInBoot = this.bootId;
    const doc = this.document();
    setTimeout(this.onReboot, 50);
    return doc;
  }
  async markSuccessfulBoot(): Promise<StatusResponse> {
    this.count('mark-successful-boot');
    this.successful = true;
    return this.document();
  }

  /** The host boots the set next to boot. */
  boot(): void {
    this.active = this.next;
    // the old set stays bootable as the fallback, but is not a staged update
    this.inactiveValid = false;
    this.successful = false;
    this.bootId = randomUUID();
  }
}
