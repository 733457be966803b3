/**
 * A model of GRUB's `gptprio.next`, so tests and the demo can "reboot" a disk image: among the
 * BOOT partitions pick the highest priority > 0 that has tries left or booted successfully (ties:
 * lower table index); if it has tries left, decrement them and write the GPT before booting.
 */
import fs from 'node:fs';
import { UserError } from '../common/errors.js';
import { PARTITION_TYPE } from '../gpt/bottlerocket-layout.js';
import { writeGpt } from '../gpt/io.js';
import { listPartitions, type SetName } from '../partitions/partition-sets.js';
import { readLayout } from '../partitions/disk-layout.js';
import { decodeSetFlags, describeFlags, encodeSetFlags, type SetFlags } from '../gpt/attribute-flags.js';
import { FAKE_IMAGE_HEADER_MAX, parseFakeImageHeader } from './fake-image.js';

export interface BootCandidate {
  /** 0-based table index. */
  index: number;
  flags: SetFlags;
}

/** The partition gptprio boots, or undefined when none can boot. */
export function choosePartition(candidates: readonly BootCandidate[]): BootCandidate | undefined {
  let best: BootCandidate | undefined;
  for (const c of [...candidates].sort((a, b) => a.index - b.index)) {
    const { priority, triesLeft, successful } = c.flags;
    if (priority > 0 && (triesLeft > 0 || successful) && (!best || priority > best.flags.priority)) best = c;
  }
  return best;
}

export interface BootResult {
  set: SetName;
  bootPartitionNumber: number;
  triesBefore: number;
  triesAfter: number;
  /** From the fake image header at the start of the booted ROOT partition, when there is one. */
  version?: string;
  bad?: boolean;
}

/** No BOOT partition is bootable: the host would stop in the bootloader. */
export class NoBootablePartitionError extends UserError {}

/** Boots `disk` once, as the bootloader would: may decrement the chosen set's tries on disk. */
export async function simulateBoot(disk: string): Promise<BootResult> {
  const { read, sets } = readLayout(disk);
  const gpt = read.gpt;
  const bootPartitions = listPartitions(gpt).filter((p) => p.typeGuid === PARTITION_TYPE.boot);
  const candidates = bootPartitions.map((p) => ({ index: p.index, flags: decodeSetFlags(p.attributes) }));
  const chosen = choosePartition(candidates);
  if (!chosen) {
    const found = bootPartitions.map((p) => `${p.label || `partition ${p.number}`}: ${describeFlags(decodeSetFlags(p.attributes))}`).join('; ');
    throw new NoBootablePartitionError(`no bootable partition on ${disk} (${found})`);
  }
  const set = (['A', 'B'] as const).find((s) => sets[s].boot.index === chosen.index);
  if (!set) throw new NoBootablePartitionError(`bootloader picked partition ${chosen.index + 1}, which belongs to neither set A nor set B`);

  const triesBefore = chosen.flags.triesLeft;
  if (triesBefore > 0) {
    const entry = gpt.entries[chosen.index]!;
    entry.attributes = encodeSetFlags(entry.attributes, { ...chosen.flags, triesLeft: triesBefore - 1 });
    writeGpt(disk, gpt);
  }
  const result: BootResult = { set, bootPartitionNumber: chosen.index + 1, triesBefore, triesAfter: Math.max(0, triesBefore - 1) };
  const header = parseFakeImageHeader(readRootStart(disk, sets[set].root.offset));
  if (header) {
    result.version = header.version;
    result.bad = header.bad;
  }
  return result;
}

function readRootStart(disk: string, offset: number): Buffer {
  const fd = fs.openSync(disk, 'r');
  try {
    const buf = Buffer.alloc(FAKE_IMAGE_HEADER_MAX);
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
