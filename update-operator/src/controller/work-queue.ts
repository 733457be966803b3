/**
 * A keyed work queue in the manner of client-go's rate-limited queue: a key queued twice runs
 * once; a key is never processed twice at the same time (added while it runs, it runs again
 * afterwards); up to `concurrency` keys run at once; `addAfter` requeues a key later (deadlines,
 * soak); a key whose handler throws is retried with a per-key exponential backoff; and starts are
 * limited to `perSecond` (token bucket of `burst`), so a storm of events cannot flood the apiserver.
 */
export interface WorkQueueOptions {
  concurrency?: number;
  perSecond?: number;
  burst?: number;
  /** First retry delay after a failure, doubled per consecutive failure of the key up to maxRetryMs. */
  baseRetryMs?: number;
  maxRetryMs?: number;
}

export class WorkQueue<K> {
  private readonly order: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<K, number>();
  private readonly opts: Required<WorkQueueOptions>;
  private tokens: number;
  private refilledAt = Date.now();
  private wakeTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private shutDown = false;

  constructor(
    private readonly handle: (key: K) => Promise<void>,
    private readonly onError: (key: K, err: unknown, retryInMs: number) => void,
    opts: WorkQueueOptions = {},
  ) {
    this.opts = { concurrency: 1, perSecond: Infinity, burst: 100, baseRetryMs: 1000, maxRetryMs: 300_000, ...opts };
    this.tokens = this.opts.burst;
  }

  add(key: K): void {
    if (this.shutDown || this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.pump();
  }

  /** Adds the key after `ms` (an earlier pending addAfter of the key wins). */
  addAfter(key: K, ms: number): void {
    if (this.shutDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Keys queued or running now (delayed ones not counted). */
  get depth(): number {
    return this.queued.size + this.processing.size;
  }

  /** Stops taking keys and drops the delayed ones; resolves once nothing runs. */
  async shutdown(): Promise<void> {
    this.shutDown = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    this.order.length = 0;
    this.queued.clear();
    clearTimeout(this.wakeTimer);
    await this.settled();
  }

  /** Resolves once the queue is empty and nothing is being processed. */
  settled(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private takeToken(): boolean {
    if (this.opts.perSecond === Infinity) return true;
    const now = Date.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.opts.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private pump(): void {
    while (this.processing.size < this.opts.concurrency) {
      const index = this.order.findIndex((k) => !this.processing.has(k));
      if (index < 0) break;
      if (!this.takeToken()) {
        if (this.wakeTimer === undefined) {
          this.wakeTimer = setTimeout(() => {
            this.wakeTimer = undefined;
            this.pump();
          }, Math.ceil(1000 / this.opts.perSecond));
        }
        break;
      }
      const [key] = this.order.splice(index, 1) as [K];
      this.queued.delete(key);
      this.processing.add(key);
      void this.run(key);
    }
    if (this.depth === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async run(key: K): Promise<void> {
    try {
      await this.handle(key);
      this.failures.delete(key);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const retryInMs = Math.min(this.opts.maxRetryMs, this.opts.baseRetryMs * 2 ** (n - 1));
      this.onError(key, err, retryInMs);
      this.addAfter(key, retryInMs);
    } finally {
      this.processing.delete(key);
      this.pump();
    }
  }
}
