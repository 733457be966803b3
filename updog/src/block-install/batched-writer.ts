/**
 * Gathers verified blocks that follow each other on the partition into one write: with 64 KiB
 * blocks an image is tens of thousands of blocks, and a write (and its thread-pool round trip)
 * per block would cost more than the copy itself.
 */
export interface PositionalWrite {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
}

export class BatchedWriter {
  private readonly buffer: Buffer;
  private length = 0;
  /** Partition offset of the first gathered byte. */
  private start = 0;

  constructor(
    private readonly disk: PositionalWrite,
    /** Where the partition starts on the disk. */
    private readonly partitionOffset: number,
    /** Bytes gathered at most; with 0 each `add` is written at once, from the caller's buffer. */
    capacity: number,
    /** Called after each write with the bytes it wrote. */
    private readonly onWritten: (bytes: number) => void,
  ) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  /** Adds `bytes` for partition offset `at` (copied: the caller may reuse its buffer at once). */
  async add(at: number, bytes: Uint8Array): Promise<void> {
    if (this.length > 0 && (this.start + this.length !== at || this.length + bytes.length > this.buffer.length)) await this.flush();
    if (bytes.length > this.buffer.length) {
      await this.writeOut(bytes, at);
      return;
    }
    if (this.length === 0) this.start = at;
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Writes what is gathered. */
  async flush(): Promise<void> {
    if (this.length === 0) return;
    const length = this.length;
    this.length = 0;
    await this.writeOut(this.buffer.subarray(0, length), this.start);
  }

  private async writeOut(bytes: Uint8Array, at: number): Promise<void> {
    for (let done = 0; done < bytes.length; ) {
      done += (await this.disk.write(bytes, done, bytes.length - done, this.partitionOffset + at + done)).bytesWritten;
    }
    this.onWritten(bytes.length);
  }
}
