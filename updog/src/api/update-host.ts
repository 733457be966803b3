/**
 * What the update API needs from the host, as one interface: reading the disk, the repository
 * operations and the lock. The server (state rules, persistence, HTTP) is written against this;
 * `createUpdateHost` in host-actions.ts implements it with the real updog libraries.
 */
import type { DiskFacts, RefreshResult } from './state-rules.js';
import type { ProgressListener } from '../install/progress.js';
import type { UpdateImage } from './protocol.js';

export interface HostFacts extends DiskFacts {
  /** The running boot's `successful` flag. */
  activeBootSuccessful: boolean;
  /** Identifies the current boot (Linux: /proc/sys/kernel/random/boot_id); changes on every boot. */
  bootId: string;
}

export interface UpdateHost {
  /** Reads the partition flags and os-release now. */
  facts(): Promise<HostFacts>;
  /** Re-reads the repository: the versions it offers this host and the one this host would pick. `signal` cancels its downloads. */
  refresh(signal?: AbortSignal): Promise<RefreshResult>;
  /**
   * Downloads and writes `version` to the inactive set and marks it valid; returns what it wrote.
   * `signal` cancels its downloads; `onProgress` hears the installer's progress.
   */
  prepare(version: string, signal?: AbortSignal, onProgress?: ProgressListener): Promise<UpdateImage>;
  /** Makes the staged set next to boot (signpost upgrade-to-inactive). */
  activate(): Promise<void>;
  /** Undoes activate (signpost cancel-upgrade). */
  deactivate(): Promise<void>;
  reboot(): Promise<void>;
  /** Runs the host health check, then marks the running boot successful; throws if unhealthy. */
  markSuccessfulBoot(): Promise<void>;
  /** Runs `fn` holding the cross-process update lock (throws a Busy UserError when held). */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}
