/**
 * A bounded FIFO of byte chunks between a producer that pushes (the download) and a consumer that
 * iterates (the decoder). `push` waits while `limitBytes` or more are queued, so a slow consumer
 * slows the download instead of growing memory.
 */
export class ChunkChannel implements AsyncIterable<Uint8Array> {
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private closed = false;
  private failure: Error | undefined;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly limitBytes: number) {}

  /** Queues `chunk`; resolves once fewer than `limitBytes` are queued (at once after `close`). */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.closed) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.wake('consumer');
    while (this.queued >= this.limitBytes && !this.closed) {
      await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    }
  }

  /** No more chunks: the consumer's iteration ends once the queue is empty. */
  end(): void {
    this.ended = true;
    this.wake('consumer');
  }

  /** The consumer's iteration throws `err` once the queue is empty. */
  fail(err: Error): void {
    this.failure = err;
    this.end();
  }

  /** The consumer has stopped: drop what is queued and what comes, and release the producer. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.queued = 0;
    this.wake('producer');
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.queued -= chunk.length;
        this.wake('producer');
        yield chunk;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended || this.closed) return;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
  }

  private wake(side: 'consumer' | 'producer'): void {
    const wake = side === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (side === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    wake?.();
  }
}
