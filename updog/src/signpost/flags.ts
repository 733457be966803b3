/**
 * The signpost transitions on the gptprio flags of both sets (bit layout: gpt/attribute-flags.ts).
 * Pure: no disk access.
 */
import { UserError } from '../common/errors.js';
import { describeFlags, willBoot, type SetFlags } from '../gpt/attribute-flags.js';
import type { SetName } from '../partitions/partition-sets.js';
import { otherSet } from '../partitions/partition-sets.js';

export interface SignpostFlags {
  A: SetFlags;
  B: SetFlags;
  /** PRIVATE bit 57. */
  bootEverSucceeded: boolean;
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
