/**
 * The disk as the decode worker writes it: the descriptor the main thread opened, plus a second
 * one on the same file opened with O_DIRECT where the kernel allows it. Aligned writes (all but
 * an image's tail with `lz4 -9`'s 4 MiB blocks) go through O_DIRECT: no page cache to fill and
 * no dirty pages for a background sync to chase, so one thread's sequential writes are all the
 * disk sees. Everything else, and every write once O_DIRECT has failed, goes through the page
 * cache of the shared descriptor; `sync` (fsync on that descriptor) covers both.
 */
import fs from 'node:fs';
import type { PositionalFile } from './partition-writer.js';

/** O_DIRECT needs the buffer, length and position aligned to the device's logical block size: 4 KiB covers 512-byte and 4 KiB devices. */
export const DIRECT_IO_ALIGNMENT = 4096;

export interface PartitionDisk extends PositionalFile {
  /** Closes the O_DIRECT descriptor (the shared one belongs to the main thread). */
  close(): void;
}

const aligned = (n: number): boolean => n % DIRECT_IO_ALIGNMENT === 0;

/**
 * `fd` stays open and owned by the caller. Where O_DIRECT cannot be opened (some file systems
 * refuse it), every write uses `fd`.
 */
export function openPartitionDisk(fd: number): PartitionDisk {
  let directFd = openDirect(fd);
  const stopDirect = (): void => {
    if (directFd !== undefined) fs.closeSync(directFd);
    directFd = undefined;
  };
  const write = (target: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> =>
    new Promise((resolve, reject) => fs.write(target, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
  const whenDone = (run: (done: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> =>
    new Promise((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
  return {
    get cached() {
      return directFd === undefined;
    },
    async write(buffer, offset, length, position) {
      // the buffer's address: Buffers over WebAssembly memory start on a page, pooled ones may not
      if (directFd !== undefined && aligned(buffer.byteOffset + offset) && aligned(length) && aligned(position)) {
        try {
          return { bytesWritten: await write(directFd, buffer, offset, length, position) };
        } catch (err) {
          // EINVAL: this file or buffer does not take O_DIRECT after all; the page cache does
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
          stopDirect();
        }
      }
      return { bytesWritten: await write(fd, buffer, offset, length, position) };
    },
    datasync: () => whenDone((done) => fs.fdatasync(fd, done)),
    sync: () => whenDone((done) => fs.fsync(fd, done)),
    close: stopDirect,
  };
}

/** A second descriptor on the file behind `fd`, for writing with O_DIRECT; undefined if refused. */
function openDirect(fd: number): number | undefined {
  try {
    return fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_DIRECT);
  } catch {
    return undefined;
  }
}
