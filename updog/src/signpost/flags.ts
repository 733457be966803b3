/**
 * The gptprio flags (as GRUB's `gptprio.next` reads them) and the signpost transitions on them.
 * Pure: no disk access. On the BOOT partition of each set: bits 48-51 priority, 52-55 tries left,
 * 56 successful. On PRIVATE: bit 57 "a boot has ever succeeded". No other bit is ever changed.
 */
import { UserError } from '../common/errors.js';
import type { SetName } from '../partitions/partition-sets.js';
import { otherSet } from '../partitions/partition-sets.js';

export interface SetFlags {
  /** 0-15; 0 means "never boot this set". */
  priority: number;
  /** 0-15; the bootloader decrements it on each boot attempt. */
  triesLeft: number;
  successful: boolean;
}

export interface SignpostFlags {
  A: SetFlags;
  B: SetFlags;
  /** PRIVATE bit 57. */
  bootEverSucceeded: boolean;
}

const PRIORITY_SHIFT = 48n;
const TRIES_SHIFT = 52n;
const SUCCESSFUL_BIT = 1n << 56n;
const BOOT_EVER_SUCCEEDED_BIT = 1n << 57n;
const SET_FLAGS_MASK = 0x1ffn << PRIORITY_SHIFT; // bits 48-56

export function decodeSetFlags(attributes: bigint): SetFlags {
  return {
    priority: Number((attributes >> PRIORITY_SHIFT) & 0xfn),
    triesLeft: Number((attributes >> TRIES_SHIFT) & 0xfn),
    successful: (attributes & SUCCESSFUL_BIT) !== 0n,
  };
}

/** Returns `attributes` with bits 48-56 replaced by `flags`; every other bit is kept. */
export function encodeSetFlags(attributes: bigint, flags: SetFlags): bigint {
  for (const [name, value] of [['priority', flags.priority], ['tries', flags.triesLeft]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 15) throw new RangeError(`${name} must be 0-15, got ${value}`);
  }
  const bits = (BigInt(flags.priority) << PRIORITY_SHIFT) | (BigInt(flags.triesLeft) << TRIES_SHIFT) | (flags.successful ? SUCCESSFUL_BIT : 0n);
  return (attributes & ~SET_FLAGS_MASK) | bits;
}

export function decodeBootEverSucceeded(attributes: bigint): boolean {
  return (attributes & BOOT_EVER_SUCCEEDED_BIT) !== 0n;
}

export function encodeBootEverSucceeded(attributes: bigint, value: boolean): bigint {
  return value ? attributes | BOOT_EVER_SUCCEEDED_BIT : attributes & ~BOOT_EVER_SUCCEEDED_BIT;
}

/** What the bootloader considers bootable. */
export function willBoot(flags: SetFlags): boolean {
  return (flags.priority > 0 && flags.triesLeft > 0) || flags.successful;
}

export function describeFlags(flags: SetFlags): string {
  return `priority=${flags.priority} tries=${flags.triesLeft} successful=${flags.successful ? 1 : 0}`;
}

/** A transition refused because the flags found do not allow it. */
export class SignpostError extends UserError {}

export type Transition = (flags: SignpostFlags, active: SetName) => SignpostFlags;

function withSet(flags: SignpostFlags, set: SetName, change: Partial<SetFlags>): SignpostFlags {
  return { ...flags, [set]: { ...flags[set], ...change } };
}

/** Inactive set: priority 0, tries 0, not successful (before writing images to it). */
export const clearInactive: Transition = (flags, active) =>
  withSet(flags, otherSet(active), { priority: 0, triesLeft: 0, successful: false });

/** Inactive set: tries 1 (its images are complete and verified). */
export const markInactiveValid: Transition = (flags, active) => withSet(flags, otherSet(active), { triesLeft: 1 });

/** Boot the inactive set next, once: requires a valid (tries > 0), unmarked inactive set. */
export const upgradeToInactive: Transition = (flags, active) => {
  const inactive = otherSet(active);
  const f = flags[inactive];
  if (f.priority !== 0 || f.successful) {
    throw new SignpostError(
      `cannot upgrade to set ${inactive}: it is already marked for boot (${describeFlags(f)}); run cancel-upgrade, or clear-inactive and write a new image`,
    );
  }
  if (f.triesLeft === 0) {
    throw new SignpostError(`cannot upgrade to set ${inactive}: it holds no verified image (${describeFlags(f)}); write an image and run mark-inactive-valid first`);
  }
  return withSet(withSet(flags, inactive, { priority: 2, successful: false }), active, { priority: 1 });
};

/** Undo upgrade-to-inactive: the inactive set stops being preferred (its tries are kept). */
export const cancelUpgrade: Transition = (flags, active) =>
  withSet(withSet(flags, otherSet(active), { priority: 0 }), active, { priority: 2 });

/** Boot the previous (inactive) set next: requires it to be bootable. */
export const rollbackToInactive: Transition = (flags, active) => {
  const inactive = otherSet(active);
  const f = flags[inactive];
  if (!willBoot(f)) {
    throw new SignpostError(`cannot roll back to set ${inactive}: it would not boot (${describeFlags(f)})`);
  }
  return withSet(withSet(flags, inactive, { priority: 2 }), active, { priority: 1 });
};

/** The running set booted fine: keep booting it, and remember that a boot ever succeeded. */
export const markSuccessfulBoot: Transition = (flags, active) => ({
  ...withSet(flags, active, { successful: true }),
  bootEverSucceeded: true,
});
