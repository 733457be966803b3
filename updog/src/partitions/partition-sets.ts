/**
 * The Bottlerocket A/B layout as found in a GPT: set A is the first BOOT, ROOT and HASH partition in
 * table order, set B the second; PRIVATE is the first PRIVATE partition. Partition numbers are
 * never assumed.
 */
import { UserError } from '../common/errors.js';
import { isUsedEntry, type Gpt } from '../gpt/format.js';
import { PARTITION_TYPE } from '../gpt/bottlerocket-layout.js';

export type SetName = 'A' | 'B';
export const SET_NAMES: readonly SetName[] = ['A', 'B'];

export interface Partition {
  /** 0-based index in the partition entry array. */
  index: number;
  /** 1-based partition number, as in `/dev/sda3` or `sgdisk -i 3`. */
  number: number;
  typeGuid: string;
  uniqueGuid: string;
  label: string;
  firstLba: number;
  lastLba: number;
  /** Byte offset from the start of the disk. */
  offset: number;
  /** Size in bytes. */
  size: number;
  attributes: bigint;
}

export interface PartitionSet {
  boot: Partition;
  root: Partition;
  hash: Partition;
}

export interface PartitionSets {
  A: PartitionSet;
  B: PartitionSet;
  private: Partition;
}

export function otherSet(set: SetName): SetName {
  return set === 'A' ? 'B' : 'A';
}

export function parseSetName(text: string, where: string): SetName {
  const value = text.trim().toUpperCase();
  if (value !== 'A' && value !== 'B') throw new UserError(`${where}: expected A or B, got ${JSON.stringify(text.trim())}`);
  return value;
}

/** The partition entries in use, as `Partition`s. */
export function listPartitions(gpt: Gpt): Partition[] {
  const sectorSize = gpt.sectorSize;
  return gpt.entries.flatMap((entry, index) =>
    isUsedEntry(entry)
      ? [
          {
            index,
            number: index + 1,
            typeGuid: entry.typeGuid,
            uniqueGuid: entry.uniqueGuid,
            label: entry.name,
            firstLba: entry.firstLba,
            lastLba: entry.lastLba,
            offset: entry.firstLba * sectorSize,
            size: (entry.lastLba - entry.firstLba + 1) * sectorSize,
            attributes: entry.attributes,
          },
        ]
      : [],
  );
}

export function findPartitionSets(gpt: Gpt): PartitionSets {
  const partitions = listPartitions(gpt);
  const ofType = (kind: keyof typeof PARTITION_TYPE): Partition[] => partitions.filter((p) => p.typeGuid === PARTITION_TYPE[kind]);
  const boot = ofType('boot');
  const root = ofType('root');
  const hash = ofType('hash');
  const priv = ofType('private');
  const missing: string[] = [];
  for (const [kind, found, needed] of [['BOOT', boot, 2], ['ROOT', root, 2], ['HASH', hash, 2], ['PRIVATE', priv, 1]] as const) {
    if (found.length < needed) missing.push(`${kind} (found ${found.length}, need ${needed})`);
  }
  if (missing.length > 0) throw new UserError(`not a Bottlerocket A/B disk: missing partitions of type ${missing.join(', ')}`);
  const set = (i: number): PartitionSet => ({ boot: boot[i]!, root: root[i]!, hash: hash[i]! });
  return { A: set(0), B: set(1), private: priv[0]! };
}
