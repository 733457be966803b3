/**
 * Reading and writing a GPT on an image file or a block device. Reads fall back to the backup copy
 * when the primary is damaged; writes always rewrite both copies (backup first, each followed by
 * fsync), which also repairs whichever copy was damaged. The protective MBR is never touched.
 */
import fs from 'node:fs';
import { UserError } from '../common/errors.js';
import { diskSizeBytes } from './block-device.js';
import { combineCopies, decodeEntries, decodeHeader, encodeGpt, GptFormatError, layoutProblem, type Gpt, type GptEntry, type GptHeader } from './format.js';

/** A path, or a file descriptor the caller opened (read-write for `writeGpt`). */
export type DiskTarget = string | number;

export interface GptReadResult {
  gpt: Gpt;
  /** Set when the primary copy is unusable (the table came from the backup). */
  primaryProblem?: string;
  /** Set when the backup copy is unusable, or older than the primary (an interrupted write). */
  backupProblem?: string;
}

/** The disk holds no usable GPT (both copies damaged, or none at all), or is no disk at all. */
export class GptError extends UserError {}

const SECTOR_SIZES = [512, 4096] as const;

/**
 * Refuses anything but a regular file or a block device before opening it: opening a FIFO would
 * block, and a character device or directory is no disk. (The open itself is non-blocking and
 * checked again, in case the path is replaced in between.)
 */
function checkDiskKind(stat: fs.Stats | fs.BigIntStats, path: string): void {
  if (stat.isFile() || stat.isBlockDevice()) return;
  const kind = stat.isDirectory()
    ? 'a directory'
    : stat.isFIFO()
      ? 'a FIFO'
      : stat.isCharacterDevice()
        ? 'a character device'
        : stat.isSocket()
          ? 'a socket'
          : 'not a file';
  throw new GptError(`disk ${path} is ${kind}, not a disk image file or block device`);
}

function openDisk(path: string, flags: number): number {
  let fd: number;
  try {
    checkDiskKind(fs.statSync(path), path);
    fd = fs.openSync(path, flags | fs.constants.O_NONBLOCK);
  } catch (err) {
    if (err instanceof GptError) throw err;
    throw new GptError(`cannot open disk ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    checkDiskKind(fs.fstatSync(fd), path);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

/** Runs `fn` on the open disk; an I/O error (EIO on a failing device, ...) becomes one line naming the disk. */
function withFd<T>(target: DiskTarget, flags: number, fn: (fd: number, name: string) => T): T {
  const name = typeof target === 'number' ? `fd ${target}` : target;
  const fd = typeof target === 'number' ? target : openDisk(target, flags);
  try {
    return fn(fd, name);
  } catch (err) {
    if (typeof (err as NodeJS.ErrnoException).syscall === 'string') {
      throw new GptError(`I/O error on disk ${name}: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  } finally {
    if (typeof target !== 'number') fs.closeSync(fd);
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

function readCopy(fd: number, lba: number, sectorSize: number, diskSectors: number): Copy {
  const header = decodeHeader(readAt(fd, lba * sectorSize, sectorSize), lba, diskSectors);
  return { header, entries: decodeEntries(readAt(fd, header.entriesLba * sectorSize, header.entryCount * header.entrySize), header) };
}

/** Runs `read`, turning a format problem into its message. */
function attempt<T>(read: () => T): T | string {
  try {
    return read();
  } catch (err) {
    if (err instanceof GptFormatError) return err.message;
    throw err;
  }
}

/**
 * Reads the GPT, from the backup copy when the primary is damaged; throws `GptError` when neither
 * is usable or they contradict each other. The backup is read at the disk's last LBA, never where
 * a header says. Reading never writes: callers that change the table repair it by writing it.
 */
export function readGpt(target: DiskTarget, options: { sysRoot?: string } = {}): GptReadResult {
  return withFd(target, fs.constants.O_RDONLY, (fd, name) => {
    const diskBytes = diskSize(fd, name, options.sysRoot);
    const problems: string[] = [];
    for (const sectorSize of SECTOR_SIZES) {
      const diskSectors = Math.floor(diskBytes / sectorSize);
      if (diskSectors < 4) continue;
      const primary = attempt(() => readCopy(fd, 1, sectorSize, diskSectors));
      const backup = attempt(() => readCopy(fd, diskSectors - 1, sectorSize, diskSectors));
      if (typeof primary !== 'string' || typeof backup !== 'string') {
        const copies = { ...(typeof primary === 'string' ? {} : { primary }), ...(typeof backup === 'string' ? {} : { backup }) };
        const gpt = attempt(() => combineCopies(copies, sectorSize, diskSectors));
        if (typeof gpt === 'string') throw new GptError(`refusing the GPT on ${name}: ${gpt}. Check it with \`sgdisk -v\` and repair it.`);
        const result: GptReadResult = { gpt };
        if (typeof primary === 'string') result.primaryProblem = primary;
        if (typeof backup === 'string') result.backupProblem = backup;
        else if (typeof primary !== 'string' && primary.header.raw.readUInt32LE(88) !== backup.header.raw.readUInt32LE(88)) {
          result.backupProblem = 'backup entry array differs from the primary (an interrupted write)';
        }
        return result;
      }
      problems.push(`${sectorSize}-byte sectors: primary: ${primary}; backup: ${backup}`);
    }
    throw new GptError(
      `no usable GPT on ${name} (${problems.join(' | ')}); refusing to touch it. Restore the partition table (\`sgdisk -v\` shows what is wrong; \`sgdisk -e\` moves the backup of a grown disk to its end) and retry.`,
    );
  });
}

function diskSize(fd: number, name: string, sysRoot: string | undefined): number {
  try {
    return diskSizeBytes(fd, sysRoot);
  } catch (err) {
    throw new GptError(`cannot tell the size of disk ${name}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Writes both copies of `gpt`: backup entry array and header, fsync, then primary entry array and
 * header, fsync. A crash in between leaves one complete copy (the old primary or the new backup).
 * Refuses, writing nothing, a table whose copies would not sit where they belong on this disk
 * (measured here, whatever `gpt` says) or would reach into the usable area.
 */
export function writeGpt(target: DiskTarget, gpt: Gpt): void {
  const { sectorSize, header } = gpt;
  withFd(target, fs.constants.O_RDWR, (fd, name) => {
    const diskSectors = Math.floor(diskSize(fd, name, undefined) / sectorSize);
    const encoded = encodeGpt(gpt);
    const problem = gpt.diskSectors === diskSectors ? layoutProblem(gpt, diskSectors, encoded) : `the table is for ${gpt.diskSectors} sectors, the disk has ${diskSectors}`;
    if (problem !== undefined) throw new GptError(`refusing to write the GPT on ${name}: ${problem}`);
    writeAt(fd, gpt.backupEntriesLba * sectorSize, encoded.entries);
    writeAt(fd, header.alternateLba * sectorSize, encoded.backupHeader);
    fs.fsyncSync(fd);
    writeAt(fd, header.entriesLba * sectorSize, encoded.entries);
    writeAt(fd, sectorSize, encoded.primaryHeader);
    fs.fsyncSync(fd);
  });
}
