/**
 * A FIFO of byte chunks from a stream, from which a parser takes exact-length pieces. Pieces
 * within one chunk are views (no copy), valid until the next `take`/`takeInto`; pieces spanning
 * chunks are copied once.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // read position inside chunks[0]
  private total = 0;
  /** Chunks read to the end; handed to `onConsumed` at the next take, as a view may still be in use. */
  private consumed: Buffer[] = [];

  /** `onConsumed` gets each pushed chunk back (same memory) once none of its bytes is needed. */
  constructor(private readonly onConsumed?: (chunk: Buffer) => void) {}

  get length(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (buffer.length === 0) this.consumed.push(buffer);
    else this.chunks.push(buffer);
    this.total += buffer.length;
  }

  /** Removes and returns the next `n` bytes: a view when they lie in one chunk, else a copy. */
  take(n: number): Buffer {
    this.release();
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) {
      const piece = first.subarray(this.head, this.head + n);
      this.advance(n);
      return piece;
    }
    return this.takeInto(Buffer.allocUnsafe(n), 0, n);
  }

  /** Removes the next `n` bytes into `target` at `offset`; returns `target`. */
  takeInto(target: Buffer, offset: number, n: number): Buffer {
    this.release();
    if (n > this.total) throw new RangeError(`take(${n}) with only ${this.total} bytes queued`);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length - this.head, n - filled);
      chunk.copy(target, offset + filled, this.head, this.head + count);
      filled += count;
      this.advance(count);
    }
    return target;
  }

  private advance(n: number): void {
    this.total -= n;
    this.head += n;
    const first = this.chunks[0];
    if (first !== undefined && this.head === first.length) {
      this.consumed.push(first);
      this.chunks.shift();
      this.head = 0;
    }
  }

  private release(): void {
    if (this.consumed.length === 0) return;
    const done = this.consumed;
    this.consumed = [];
    if (this.onConsumed !== undefined) for (const chunk of done) this.onConsumed(chunk);
  }
}
