/**
 * The Bottlerocket disk layout (DESIGN.md 5): partition type GUIDs, labels, and a builder for
 * sparse disk image files laid out like a freshly installed host.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { FILE_MODE } from '../common/file-modes.js';
import { encodeSetFlags } from './attribute-flags.js';
import { newGpt, type GptEntry } from './format.js';
import { writeGpt } from './io.js';
import { protectiveMbr } from './mbr.js';

export const PARTITION_TYPE = {
  boot: '6b636168-7420-6568-2070-6c616e657421',
  root: '5526016a-1a97-4ea4-b39a-b7c8c6ca4502',
  hash: '598f10af-c955-4456-6a99-7720068a6cea',
  private: '440408bb-eb0b-4328-a6e5-a29038fad706',
} as const;

export interface BottlerocketDiskSizes {
  /** Bytes; each partition is rounded up to a whole MiB. */
  bootSize: number;
  rootSize: number;
  hashSize: number;
  privateSize: number;
}

const SECTOR = 512;
const MIB = 1024 * 1024;
const MIB_SECTORS = MIB / SECTOR;

function mibSectors(bytes: number, what: string): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`${what} must be a positive number of bytes, got ${bytes}`);
  return Math.ceil(bytes / MIB) * MIB_SECTORS;
}

/**
 * Creates (or replaces) a sparse image file: protective MBR + GPT with BOOT-A, ROOT-A, HASH-A,
 * BOOT-B, ROOT-B, HASH-B, PRIVATE (partitions 1-7, each starting on a MiB boundary). Set A is
 * bootable as on a freshly installed host (priority 1, tries 0, successful); set B is cleared.
 */
export async function createBottlerocketDiskImage(path: string, sizes: BottlerocketDiskSizes): Promise<void> {
  const layout: Array<{ type: string; label: string; sectors: number }> = [];
  for (const set of ['A', 'B'] as const) {
    layout.push({ type: PARTITION_TYPE.boot, label: `BOTTLEROCKET-BOOT-${set}`, sectors: mibSectors(sizes.bootSize, 'bootSize') });
    layout.push({ type: PARTITION_TYPE.root, label: `BOTTLEROCKET-ROOT-${set}`, sectors: mibSectors(sizes.rootSize, 'rootSize') });
    layout.push({ type: PARTITION_TYPE.hash, label: `BOTTLEROCKET-HASH-${set}`, sectors: mibSectors(sizes.hashSize, 'hashSize') });
  }
  layout.push({ type: PARTITION_TYPE.private, label: 'BOTTLEROCKET-PRIVATE', sectors: mibSectors(sizes.privateSize, 'privateSize') });

  // 1 MiB in front (MBR, primary GPT, alignment) and 1 MiB behind (backup GPT).
  const diskSectors = MIB_SECTORS + layout.reduce((sum, p) => sum + p.sectors, 0) + MIB_SECTORS;
  const gpt = newGpt(diskSectors, SECTOR, randomUUID());
  let next = MIB_SECTORS;
  layout.forEach((p, i) => {
    const entry: GptEntry = {
      typeGuid: p.type,
      uniqueGuid: randomUUID(),
      firstLba: next,
      lastLba: next + p.sectors - 1,
      attributes: 0n,
      name: p.label,
      raw: Buffer.alloc(gpt.header.entrySize),
    };
    if (p.label === 'BOTTLEROCKET-BOOT-A') entry.attributes = encodeSetFlags(0n, { priority: 1, triesLeft: 0, successful: true });
    gpt.entries[i] = entry;
    next += p.sectors;
  });

  const fd = fs.openSync(path, 'w', FILE_MODE);
  try {
    fs.ftruncateSync(fd, diskSectors * SECTOR);
    fs.writeSync(fd, protectiveMbr(diskSectors, SECTOR), 0, SECTOR, 0);
    writeGpt(fd, gpt);
  } finally {
    fs.closeSync(fd);
  }
}
