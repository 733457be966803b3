/**
 * Facts about the disk behind a file descriptor, without ioctls: regular files report their size
 * through fstat; block devices through sysfs (`/sys/dev/block/MAJ:MIN/size`, in 512-byte units
 * whatever the logical sector size).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface DeviceNumber {
  major: number;
  minor: number;
}

/**
 * Splits a Linux `dev_t` (glibc encoding: major in bits 8-19 and 32-63, minor in bits 0-7 and
 * 20-31). Take it from a `bigint` stat so that large numbers lose no bits.
 */
export function decodeDevT(dev: bigint): DeviceNumber {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

export function sysfsBlockDir(dev: DeviceNumber, sysRoot = '/sys'): string {
  return path.join(sysRoot, 'dev', 'block', `${dev.major}:${dev.minor}`);
}

/** Size in bytes of the image file or block device open on `fd`. */
export function diskSizeBytes(fd: number, sysRoot = '/sys'): number {
  const stat = fs.fstatSync(fd, { bigint: true });
  if (stat.isFile()) return Number(stat.size);
  if (!stat.isBlockDevice()) throw new Error('not a regular file or block device');
  const sizeFile = path.join(sysfsBlockDir(decodeDevT(stat.rdev), sysRoot), 'size');
  const sectors = Number(fs.readFileSync(sizeFile, 'utf8').trim());
  if (!Number.isSafeInteger(sectors) || sectors <= 0) throw new Error(`unexpected size in ${sizeFile}`);
  return sectors * 512;
}
