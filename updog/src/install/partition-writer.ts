/**
 * Writes a stream of blocks into one partition of a disk (image file or block device) at
 * increasing offsets, on a file descriptor shared by the whole update. One write is kept in
 * flight while the caller decodes the next block, so decoding and disk I/O overlap; never two:
 * several threads filling page cache for one file at once cost several times the system time of
 * one thread doing the same writes in order.
 */
import { UserError } from '../common/errors.js';

/** What the writer needs of the disk: positioned writes, fdatasync and fsync (a `FileHandle` is one). */
export interface PositionalFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  /** False while writes bypass the page cache (O_DIRECT, partition-disk.ts): nothing for an early sync to do. */
  readonly cached?: boolean;
}

export interface PartitionExtent {
  /** Byte offset of the partition on the disk. */
  offset: number;
  /** Partition size in bytes. */
  size: number;
  /** For messages, e.g. `BOTTLEROCKET-ROOT-B`. */
  label: string;
}

/** The image does not fit its partition: refused before any byte past the end is written. */
export class PartitionOverflowError extends UserError {}

/**
 * Every this many bytes written through the page cache, an fdatasync of what is written so far
 * starts in the background. Without it the kernel keeps the whole image as dirty page cache (a
 * 1 GiB image stays far below the default dirty limits) and the final fsync writes all of it
 * while nothing else happens; with it the writeback overlaps the download and the final fsync
 * only flushes the tail. Bounded: when the next window is full and the previous sync still runs,
 * the writer waits for it, so at most two windows are ever dirty.
 */
export const EARLY_SYNC_BYTES = 32 * 1024 * 1024;

export class PartitionWriter {
  private written = 0;
  private inFlight: Promise<void> = Promise.resolve();
  /** The background sync, if one runs; one at a time. */
  private syncing: Promise<void> | undefined;
  private unsyncedBytes = 0;
  private syncFailure: unknown;

  constructor(
    private readonly disk: PositionalFile,
    private readonly partition: PartitionExtent,
    private readonly earlySyncBytes = EARLY_SYNC_BYTES,
  ) {}

  /** Bytes accepted so far. */
  get bytesWritten(): number {
    return this.written;
  }

  /**
   * Queues `data` at the next offset and waits for the previous write. The caller must not
   * modify `data` afterwards.
   */
  async write(data: Buffer): Promise<void> {
    if (this.syncFailure !== undefined) {
      // the disk failed to store what was written: stop downloading
      await this.settle();
      throw this.syncFailure;
    }
    if (this.written + data.length > this.partition.size) {
      await this.settle();
      throw new PartitionOverflowError(
        `the image does not fit ${this.partition.label}: it is larger than the partition's ${this.partition.size} bytes (refused at byte ${this.written + data.length})`,
      );
    }
    const position = this.partition.offset + this.written;
    this.written += data.length;
    const previous = this.inFlight;
    this.inFlight = previous.then(() => writeFully(this.disk, data, position));
    this.inFlight.catch(() => undefined); // surfaced by the next write() or finish()
    await previous;
    if (this.disk.cached === false) return;
    this.unsyncedBytes += data.length;
    if (this.unsyncedBytes < this.earlySyncBytes) return;
    await this.syncing;
    this.startEarlySync();
  }

  private startEarlySync(): void {
    this.unsyncedBytes = 0;
    // Kept until finish(): Linux reports a writeback error to one fsync only, so a later
    // successful sync would hide it.
    const sync = this.disk.datasync().then(
      () => {
        this.syncing = undefined;
      },
      (err: unknown) => {
        this.syncFailure ??= err;
        this.syncing = undefined;
      },
    );
    this.syncing = sync;
  }

  /** Waits for the last write and flushes the disk's data to stable storage. */
  async finish(): Promise<number> {
    try {
      await this.inFlight;
    } finally {
      await this.syncing; // the disk may be closed once this returns or throws
    }
    if (this.syncFailure !== undefined) throw this.syncFailure;
    await this.disk.sync();
    return this.written;
  }

  /** Waits for the write and sync in flight, ignoring their outcome (used on the error path). */
  async settle(): Promise<void> {
    await this.inFlight.catch(() => undefined);
    await this.syncing;
  }
}

async function writeFully(disk: PositionalFile, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await disk.write(data, done, data.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`short write at byte ${position + done}`);
    done += bytesWritten;
  }
}
