/**
 * A FIFO of byte chunks from a stream, from which a parser takes exact-length pieces. Pieces
 * within one chunk are views (no copy); pieces spanning chunks are copied once.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // read position inside chunks[0]
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.total += chunk.length;
  }

  /** Removes and returns the next `n` bytes: a view when they lie in one chunk, else a copy. */
  take(n: number): Buffer {
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
      this.chunks.shift();
      this.head = 0;
    }
  }
}
