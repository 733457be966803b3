/**
 * The update API's state rules, as pure functions over the status document. Same rules as
 * Bottlerocket's update API: refresh in any state (it moves only Idle <-> Available), prepare from
 * Available or Staged, activate from Staged, deactivate from Ready; reboot and
 * mark-successful-boot in any state. Staged and Ready are not trusted from the file alone: they are
 * re-derived from the partition flags on every read, so a reboot, a fallback or an out-of-band
 * `signpost` command can never leave the API claiming an update that the disk no longer holds.
 */
import { UserError } from '../common/errors.js';
import type { PartitionSetName, UpdateCommand, UpdateImage, UpdateState, UpdateStatus } from './protocol.js';

const ALLOWED_IN: Record<UpdateCommand, readonly UpdateState[]> = {
  refresh: ['Idle', 'Available', 'Staged', 'Ready'],
  prepare: ['Available', 'Staged'],
  activate: ['Staged'],
  deactivate: ['Ready'],
  reboot: ['Idle', 'Available', 'Staged', 'Ready'],
  'mark-successful-boot': ['Idle', 'Available', 'Staged', 'Ready'],
};

/** A command that the current state does not allow (HTTP 409). */
export class IllegalTransitionError extends UserError {
  readonly updateState: UpdateState;
  constructor(command: UpdateCommand, state: UpdateState, hint: string) {
    super(`${command} is not allowed in state ${state} (allowed in ${ALLOWED_IN[command].join(', ')}): ${hint}`);
    this.updateState = state;
  }
}

const HINTS: Record<UpdateCommand, string> = {
  refresh: '',
  prepare: 'refresh first; prepare needs an available update',
  activate: 'prepare an update first',
  deactivate: 'only an activated update can be deactivated',
  reboot: '',
  'mark-successful-boot': '',
};

export function assertCommandAllowed(command: UpdateCommand, state: UpdateState): void {
  if (!ALLOWED_IN[command].includes(state)) throw new IllegalTransitionError(command, state, HINTS[command]);
}

export function emptyStatus(): UpdateStatus {
  return {
    updateState: 'Idle',
    availableUpdates: [],
    chosenUpdate: null,
    activePartition: null,
    stagingPartition: null,
    mostRecentCommand: null,
    rebootRequestedInBoot: null,
  };
}

/** Records a reboot request made in boot `bootId` (an empty id cannot be told from the next boot's). */
export function recordRebootRequest(status: UpdateStatus, bootId: string): UpdateStatus {
  return { ...status, rebootRequestedInBoot: bootId === '' ? null : bootId };
}

/** Whether a reboot requested in the running boot `bootId` is still to come. */
export function rebootRequestedThisBoot(status: UpdateStatus, bootId: string): boolean {
  return bootId !== '' && status.rebootRequestedInBoot === bootId;
}

/** What the disk says right now (read under the lock, or at least not during a write). */
export interface DiskFacts {
  activeSet: PartitionSetName;
  /** The running image: os-release variant/arch/version. */
  running: UpdateImage;
  /** The set the bootloader would pick next; null when no set can boot. */
  nextToBoot: PartitionSetName | null;
  /**
   * Whether the inactive set holds an image the bootloader may still try (it has its try left):
   * true once prepare marked it valid, false once cleared or fallen back from.
   */
  inactiveValid: boolean;
}

/**
 * Brings a persisted status in line with the disk: the active partition is what runs; a staged
 * image survives only while it sits on the inactive set and can still boot; after booting into it
 * it becomes the active image and stops being an update to take. The state then follows.
 */
export function reconcileStatus(status: UpdateStatus, facts: DiskFacts): UpdateStatus {
  const inactiveSet: PartitionSetName = facts.activeSet === 'A' ? 'B' : 'A';
  let staging = status.stagingPartition;
  if (staging && (staging.set !== inactiveSet || !facts.inactiveValid)) staging = null;
  const chosenUpdate = status.chosenUpdate?.version === facts.running.version ? null : status.chosenUpdate;
  const stagingPartition = staging && { ...staging, nextToBoot: facts.nextToBoot === staging.set };
  let updateState: UpdateState;
  if (stagingPartition) updateState = stagingPartition.nextToBoot ? 'Ready' : 'Staged';
  else updateState = chosenUpdate ? 'Available' : 'Idle';
  return {
    ...status,
    updateState,
    availableUpdates: status.availableUpdates.filter((v) => v !== facts.running.version),
    chosenUpdate,
    activePartition: { set: facts.activeSet, image: facts.running, nextToBoot: facts.nextToBoot === facts.activeSet },
    stagingPartition,
  };
}

/** Result of re-reading the repository. */
export interface RefreshResult {
  availableUpdates: string[];
  chosenUpdate: UpdateImage | null;
}

/** Records a refresh; only Idle and Available move (a staged or activated update stays put). */
export function applyRefresh(status: UpdateStatus, result: RefreshResult): UpdateStatus {
  const movable = status.updateState === 'Idle' || status.updateState === 'Available';
  return {
    ...status,
    availableUpdates: result.availableUpdates,
    chosenUpdate: result.chosenUpdate,
    updateState: movable ? (result.chosenUpdate ? 'Available' : 'Idle') : status.updateState,
  };
}

/** Prepare writes only a version the last refresh found for this host's variant and arch. */
export function assertVersionAvailable(status: UpdateStatus, version: string): void {
  if (!status.availableUpdates.includes(version)) {
    throw new IllegalTransitionError(
      'prepare',
      status.updateState,
      `version ${version} is not among the available updates (${status.availableUpdates.join(', ') || 'none'}); refresh first or pick one of those`,
    );
  }
}

/** Records an image written to the inactive set by prepare (not yet next to boot). */
export function applyPrepared(status: UpdateStatus, image: UpdateImage, inactiveSet: PartitionSetName): UpdateStatus {
  return { ...status, updateState: 'Staged', stagingPartition: { set: inactiveSet, image, nextToBoot: false } };
}
