/**
 * Writes a stream of blocks into one partition of a disk (image file or block device) at
 * increasing offsets, on a file descriptor shared by the whole update. One write is kept in
 * flight while the caller decodes the next block, so decoding and disk I/O overlap.
 */
import { UserError } from '../common/errors.js';

/** What the writer needs of the disk: positioned writes and fsync (a `FileHandle` is one). */
export interface PositionalFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
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

export class PartitionWriter {
  private written = 0;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly disk: PositionalFile,
    private readonly partition: PartitionExtent,
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
  }

  /** Waits for the last write and flushes the disk's data to stable storage. */
  async finish(): Promise<number> {
    await this.inFlight;
    await this.disk.sync();
    return this.written;
  }

  /** Waits for the write in flight, ignoring its outcome (used on the error path). */
  async settle(): Promise<void> {
    await this.inFlight.catch(() => undefined);
  }
}

async function writeFully(disk: PositionalFile, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await disk.write(data, done, data.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`short write at byte ${position + done}`);
    done += bytesWritten;
  }
}
