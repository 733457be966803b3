/** Reading and writing the signpost flags in an in-memory GPT (pure; the caller persists). */
import type { Gpt } from '../gpt/format.js';
import type { PartitionSets } from '../partitions/partition-sets.js';
import { decodeBootEverSucceeded, decodeSetFlags, encodeBootEverSucceeded, encodeSetFlags } from '../gpt/attribute-flags.js';
import type { SignpostFlags } from './flags.js';

function entryAt(gpt: Gpt, index: number) {
  const entry = gpt.entries[index];
  if (!entry) throw new Error(`GPT has no entry ${index}`);
  return entry;
}

export function readSignpostFlags(gpt: Gpt, sets: PartitionSets): SignpostFlags {
  return {
    A: decodeSetFlags(entryAt(gpt, sets.A.boot.index).attributes),
    B: decodeSetFlags(entryAt(gpt, sets.B.boot.index).attributes),
    bootEverSucceeded: decodeBootEverSucceeded(entryAt(gpt, sets.private.index).attributes),
  };
}

/** Stores `flags` into the entries' attribute bits 48-57, leaving every other bit as it was. */
export function writeSignpostFlags(gpt: Gpt, sets: PartitionSets, flags: SignpostFlags): void {
  for (const set of ['A', 'B'] as const) {
    const entry = entryAt(gpt, sets[set].boot.index);
    entry.attributes = encodeSetFlags(entry.attributes, flags[set]);
  }
  const priv = entryAt(gpt, sets.private.index);
  priv.attributes = encodeBootEverSucceeded(priv.attributes, flags.bootEverSucceeded);
}
