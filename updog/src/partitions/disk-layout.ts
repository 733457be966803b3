/** Reading a disk's GPT together with the A/B partition sets in it, for the commands that use both. */
import { UserError } from '../common/errors.js';
import { readGpt, type GptReadResult } from '../gpt/io.js';
import { findPartitionSets, type PartitionSets } from '../partitions/partition-sets.js';

/** One GPT copy could not be used (the table came from the other one) and a write would repair it. */
export function isDamaged(read: GptReadResult): boolean {
  return read.primaryProblem !== undefined || read.backupProblem !== undefined;
}

/** The GPT and the A/B sets in it; a disk without the layout is refused naming the disk. */
export function readLayout(disk: string): { read: GptReadResult; sets: PartitionSets } {
  const read = readGpt(disk);
  try {
    return { read, sets: findPartitionSets(read.gpt) };
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${disk}: ${err.message}`, { cause: err });
    throw err;
  }
}
