/**
 * Reading and writing a GPT on an image file or a block device. Reads fall back to the backup copy
 * when the primary is damaged; writes always rewrite both copies (backup first, each followed by
 * fsync), which also repairs whichever copy was damaged. The protective MBR is never touched.
 */
import fs from 'node:fs';
import { UserError } from '../common/errors.js';
import { diskSizeBytes } from './block-device.js';
import { combineCopies, decodeEntries, decodeHeader, encodeGpt, entriesSectors, GptFormatError, type Gpt, type GptEntry, type GptHeader } from './format.js';

/** A path, or a file descriptor the caller opened (read-write for `writeGpt`). */
export type DiskTarget = string | number;

export interface GptReadResult {
  gpt: Gpt;
  /** Set when the primary copy is unusable (the table came from the backup). */
  primaryProblem?: string;
  /** Set when the backup copy is unusable. */
  backupProblem?: string;
}

/** The disk holds no usable GPT (both copies damaged, or none at all). */
export class GptError extends UserError {}

const SECTOR_SIZES = [512, 4096] as const;

function withFd<T>(target: DiskTarget, flags: string, fn: (fd: number, name: string) => T): T {
  if (typeof target === 'number') return fn(target, `fd ${target}`);
  let fd: number;
  try {
    fd = fs.openSync(target, flags);
  } catch (err) {
    throw new GptError(`cannot open disk ${target}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return fn(fd, target);
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

function writeAt(fd: number, offset: number, data: Buffer): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
}

type Copy = { header: GptHeader; entries: GptEntry[] };

function readHeader(fd: number, lba: number, sectorSize: number, diskSectors: number): GptHeader {
  return decodeHeader(readAt(fd, lba * sectorSize, sectorSize), lba, diskSectors);
}

function readCopy(fd: number, header: GptHeader): Copy {
  return { header, entries: decodeEntries(readAt(fd, header.entriesLba * header.raw.length, header.entryCount * header.entrySize), header) };
}

/** Runs `read`, turning a format problem (or a short read past the end) into its message. */
function attempt<T>(read: () => T): T | string {
  try {
    return read();
  } catch (err) {
    if (err instanceof GptFormatError || err instanceof RangeError) return err.message;
    throw err;
  }
}

/** Reads the GPT, from the backup copy when the primary is damaged; throws `GptError` when neither is usable. */
export function readGpt(target: DiskTarget, options: { sysRoot?: string } = {}): GptReadResult {
  return withFd(target, 'r', (fd, name) => {
    const diskBytes = diskSizeBytes(fd, options.sysRoot);
    const problems: string[] = [];
    for (const sectorSize of SECTOR_SIZES) {
      const diskSectors = Math.floor(diskBytes / sectorSize);
      if (diskSectors < 4) continue;
      const primaryHeader = attempt(() => readHeader(fd, 1, sectorSize, diskSectors));
      const primary = typeof primaryHeader === 'string' ? primaryHeader : attempt(() => readCopy(fd, primaryHeader));
      // The backup is where an intact primary header says, else where it belongs: the last sector.
      const backupLba = typeof primaryHeader === 'string' ? diskSectors - 1 : primaryHeader.alternateLba;
      const backup = attempt(() => readCopy(fd, readHeader(fd, backupLba, sectorSize, diskSectors)));
      if (typeof primary !== 'string' || typeof backup !== 'string') {
        const gpt = combineCopies(
          { primary: typeof primary === 'string' ? undefined : primary, backup: typeof backup === 'string' ? undefined : backup },
          sectorSize,
          diskSectors,
        );
        const result: GptReadResult = { gpt };
        if (typeof primary === 'string') result.primaryProblem = primary;
        if (typeof backup === 'string') result.backupProblem = backup;
        return result;
      }
      problems.push(`${sectorSize}-byte sectors: primary: ${primary}; backup: ${backup}`);
    }
    throw new GptError(
      `no usable GPT on ${name} (${problems.join(' | ')}); refusing to touch it. Restore the partition table (e.g. \`sgdisk --load-backup\`) and retry.`,
    );
  });
}

/**
 * Writes both copies of `gpt`: backup entry array and header, fsync, then primary entry array and
 * header, fsync. A crash in between leaves one complete copy (the old primary or the new backup).
 */
export function writeGpt(target: DiskTarget, gpt: Gpt): void {
  const { sectorSize, header } = gpt;
  const arraySectors = entriesSectors(header, sectorSize);
  if (gpt.backupEntriesLba + arraySectors > header.alternateLba || header.entriesLba + arraySectors > header.firstUsableLba) {
    throw new Error('GPT entry arrays overlap their headers or the usable area');
  }
  const encoded = encodeGpt(gpt);
  withFd(target, 'r+', (fd) => {
    writeAt(fd, gpt.backupEntriesLba * sectorSize, encoded.entries);
    writeAt(fd, header.alternateLba * sectorSize, encoded.backupHeader);
    fs.fsyncSync(fd);
    writeAt(fd, header.entriesLba * sectorSize, encoded.entries);
    writeAt(fd, sectorSize, encoded.primaryHeader);
    fs.fsyncSync(fd);
  });
}
