/**
 * The signpost operations on a disk: each mutation re-reads the GPT, applies a pure transition to
 * the flag bits, and rewrites both GPT copies (backup first, fsync) before returning.
 */
import type { Logger } from '../common/log.js';
import { writeGpt } from '../gpt/io.js';
import { isDamaged, readLayout } from '../partitions/disk-layout.js';
import { resolveActiveSet, type ActiveSetSource } from '../partitions/active-set.js';
import { otherSet, type Partition, type PartitionSet, type PartitionSets, type SetName } from '../partitions/partition-sets.js';
import { choosePartition } from '../boot/gptprio.js';
import {
  cancelUpgrade,
  clearInactive,
  markInactiveValid,
  markSuccessfulBoot,
  rollbackToInactive,
  upgradeToInactive,
  type SignpostFlags,
  type Transition,
} from './flags.js';
import { willBoot, type SetFlags } from '../gpt/attribute-flags.js';
import { readSignpostFlags, writeSignpostFlags } from './gpt-flags.js';

export interface SignpostOptions {
  /** Image file or block device holding the Bottlerocket layout. */
  disk: string;
  activeSet: ActiveSetSource;
  logger?: Logger;
}

export interface SetStatus extends SetFlags {
  willBoot: boolean;
  partitions: { boot: number; root: number; hash: number };
}

export interface SignpostStatus {
  disk: string;
  activeSet: SetName;
  inactiveSet: SetName;
  A: SetStatus;
  B: SetStatus;
  bootEverSucceeded: boolean;
  /** The set the bootloader would pick now, or null when nothing can boot. */
  nextBoot: SetName | null;
}

export class Signpost {
  private constructor(
    readonly disk: string,
    readonly activeSet: SetName,
    private sets: PartitionSets,
    private readonly logger: Logger | undefined,
  ) {}

  /** Reads the disk's layout and resolves the active set. Writes nothing. */
  static async open(options: SignpostOptions): Promise<Signpost> {
    const { sets } = readLayout(options.disk);
    const active = resolveActiveSet(options.activeSet, sets, options.disk);
    return new Signpost(options.disk, active, sets, options.logger);
  }

  get inactiveSet(): SetName {
    return otherSet(this.activeSet);
  }

  get active(): PartitionSet {
    return this.sets[this.activeSet];
  }

  get inactive(): PartitionSet {
    return this.sets[this.inactiveSet];
  }

  get privatePartition(): Partition {
    return this.sets.private;
  }

  /** Read-only: a damaged GPT copy is reported in the log and left for the next change to repair. */
  async status(): Promise<SignpostStatus> {
    const { read, sets } = readLayout(this.disk);
    this.sets = sets;
    if (isDamaged(read)) {
      this.logger?.warn(
        { disk: this.disk, primaryProblem: read.primaryProblem, backupProblem: read.backupProblem },
        'damaged GPT copy; not repaired by a read-only command (the next flag change rewrites both copies)',
      );
    }
    return this.describe(readSignpostFlags(read.gpt, this.sets));
  }

  async hasBootEverSucceeded(): Promise<boolean> {
    return (await this.status()).bootEverSucceeded;
  }

  clearInactive(): Promise<SignpostStatus> {
    return this.apply('clear-inactive', clearInactive);
  }

  markInactiveValid(): Promise<SignpostStatus> {
    return this.apply('mark-inactive-valid', markInactiveValid);
  }

  upgradeToInactive(): Promise<SignpostStatus> {
    return this.apply('upgrade-to-inactive', upgradeToInactive);
  }

  cancelUpgrade(): Promise<SignpostStatus> {
    return this.apply('cancel-upgrade', cancelUpgrade);
  }

  rollbackToInactive(): Promise<SignpostStatus> {
    return this.apply('rollback-to-inactive', rollbackToInactive);
  }

  markSuccessfulBoot(): Promise<SignpostStatus> {
    return this.apply('mark-successful-boot', markSuccessfulBoot);
  }

  private async apply(name: string, transition: Transition): Promise<SignpostStatus> {
    const { read, sets } = readLayout(this.disk);
    this.sets = sets;
    const before = readSignpostFlags(read.gpt, this.sets);
    const after = transition(before, this.activeSet);
    writeSignpostFlags(read.gpt, this.sets, after);
    if (isDamaged(read)) {
      this.logger?.warn({ disk: this.disk, primaryProblem: read.primaryProblem, backupProblem: read.backupProblem }, 'repairing damaged GPT copy');
    }
    writeGpt(this.disk, read.gpt); // both copies: this is also the repair
    this.logger?.info({ disk: this.disk, active: this.activeSet, before, after }, `signpost ${name}`);
    return this.describe(after);
  }

  private describe(flags: SignpostFlags): SignpostStatus {
    const setStatus = (set: SetName): SetStatus => ({
      ...flags[set],
      willBoot: willBoot(flags[set]),
      partitions: { boot: this.sets[set].boot.number, root: this.sets[set].root.number, hash: this.sets[set].hash.number },
    });
    // Only the two sets' BOOT partitions are considered: that is what the flags describe.
    const next = choosePartition([
      { index: this.sets.A.boot.index, flags: flags.A },
      { index: this.sets.B.boot.index, flags: flags.B },
    ]);
    return {
      disk: this.disk,
      activeSet: this.activeSet,
      inactiveSet: this.inactiveSet,
      A: setStatus('A'),
      B: setStatus('B'),
      bootEverSucceeded: flags.bootEverSucceeded,
      nextBoot: next === undefined ? null : next.index === this.sets.A.boot.index ? 'A' : 'B',
    };
  }
}
