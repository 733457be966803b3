/**
 * A deduplicating work queue with one worker: a key added while queued is queued once; a key added
 * while being processed is processed again afterwards (so no change is missed).
 */
export class WorkQueue<K> {
  private readonly queued = new Set<K>();
  private running = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly handle: (key: K) => Promise<void>,
    private readonly onError: (key: K, err: unknown) => void,
  ) {}

  add(key: K): void {
    this.queued.add(key);
    if (!this.running) this.idle = this.drain();
  }

  /** Resolves once the queue is empty and nothing is being processed. */
  async settled(): Promise<void> {
    while (this.running || this.queued.size > 0) await this.idle;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (let key = this.next(); key !== undefined; key = this.next()) {
        try {
          await this.handle(key.value);
        } catch (err) {
          this.onError(key.value, err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private next(): { value: K } | undefined {
    const first = this.queued.values().next();
    if (first.done) return undefined;
    this.queued.delete(first.value);
    return { value: first.value };
  }
}
