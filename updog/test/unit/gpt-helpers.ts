/** Test helpers for disk images: temp dirs, sgdisk cross-checks, fake OS images in partitions. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { pino, type Logger } from 'pino';
import { createBottlerocketDiskImage } from '../../src/gpt/bottlerocket-layout.js';
import type { SetFlags } from '../../src/gpt/attribute-flags.js';
import { makeFakeImage } from '../../src/boot/fake-image.js';

export const MIB = 1024 * 1024;
export const SMALL_LAYOUT = { bootSize: MIB, rootSize: 2 * MIB, hashSize: MIB, privateSize: MIB };

export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'updog-gpt-test-'));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export async function makeDiskImage(dir: string, name = 'disk.img'): Promise<string> {
  const img = path.join(dir, name);
  await createBottlerocketDiskImage(img, SMALL_LAYOUT);
  return img;
}

export function sgdisk(...args: string[]): string {
  return execFileSync('sgdisk', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `sgdisk -v` must report no problems. */
export function sgdiskVerifyOutput(img: string): string {
  return sgdisk('-v', img);
}

/** The "Attribute flags" hex string `sgdisk -i N` prints. */
export function sgdiskAttributes(img: string, partitionNumber: number): string {
  const match = /Attribute flags: ([0-9A-F]{16})/.exec(sgdisk('-i', String(partitionNumber), img));
  if (!match) throw new Error(`sgdisk -i ${partitionNumber} printed no attribute flags`);
  return match[1]!;
}

/** The attribute hex sgdisk shows for a BOOT partition holding `flags` (and optionally other bits). */
export function expectedBootAttributes(flags: SetFlags, otherBits = 0n): string {
  const bits = otherBits | (BigInt(flags.priority) << 48n) | (BigInt(flags.triesLeft) << 52n) | (flags.successful ? 1n << 56n : 0n);
  return bits.toString(16).toUpperCase().padStart(16, '0');
}

/** Writes a fake image (as produced by tuf-repo-tools) at a byte offset of the disk image. */
export function writeFakeRoot(img: string, offset: number, version: string, bad = false): void {
  writeAt(img, offset, makeFakeImage({ part: 'root', variant: 'test', arch: 'x86_64', version, bad }, 4096));
}

/** Overwrites `length` bytes at `offset` with 0xff. */
export function smash(img: string, offset: number, length: number): void {
  writeAt(img, offset, Buffer.alloc(length, 0xff));
}

export function writeAt(img: string, offset: number, data: Buffer): void {
  const fd = fs.openSync(img, 'r+');
  try {
    fs.writeSync(fd, data, 0, data.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** A logger whose records (parsed JSON lines) end up in `records`, for asserting on what was logged. */
export function capturedLogger(): { logger: Logger; records: Array<Record<string, unknown> & { level: number; msg: string }> } {
  const records: Array<Record<string, unknown> & { level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as (typeof records)[number]) });
  return { logger, records };
}

/** Sets the 64-bit header field at `fieldOffset` of the GPT header at `lba` and recomputes the header CRC, as an attacker would. */
export function setHeaderField(img: string, lba: number, fieldOffset: number, value: bigint): void {
  const fd = fs.openSync(img, 'r+');
  try {
    const sector = Buffer.alloc(512);
    fs.readSync(fd, sector, 0, 512, lba * 512);
    sector.writeBigUInt64LE(value, fieldOffset);
    sector.writeUInt32LE(0, 16);
    sector.writeUInt32LE(crc32(sector.subarray(0, sector.readUInt32LE(12))), 16);
    fs.writeSync(fd, sector, 0, 512, lba * 512);
  } finally {
    fs.closeSync(fd);
  }
}
