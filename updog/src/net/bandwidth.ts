/**
 * The download bandwidth cap (updog.toml `[download] max_download_rate`, `--max-rate`): one token
 * bucket per process, which every download's body bytes pass through, so concurrent downloads
 * (range requests in flight, metadata) share the cap instead of each getting it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** How much may pass at once after a pause, as a fraction of one second's worth of bytes. */
const BURST_SECONDS = 0.1;

/**
 * A token bucket that lends: `reserve` always grants the bytes and says how long the caller must
 * wait before using them, so concurrent callers queue in order and the long-run rate is exact
 * (no rounding per chunk); after an idle time at most one burst passes without waiting.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
    readonly burstBytes: number = Math.max(1, Math.floor(bytesPerSecond * BURST_SECONDS)),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.tokens = this.burstBytes;
    this.last = now();
  }

  /** Takes `bytes` tokens; returns the milliseconds to wait before sending them (0: at once). */
  reserve(bytes: number): number {
    const t = this.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((t - this.last) * this.bytesPerSecond) / 1000);
    this.last = t;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.bytesPerSecond;
  }

  /** Waits until `bytes` may pass; rejects with the signal's reason if it aborts first. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const waitMs = this.reserve(bytes);
    if (waitMs > 0) await sleep(waitMs, undefined, signal === undefined ? {} : { signal });
  }
}

const buckets = new Map<number, TokenBucket>();

/** The process's bucket for a cap (the same object for every download with that cap). */
export function processBandwidth(bytesPerSecond: number): TokenBucket {
  let bucket = buckets.get(bytesPerSecond);
  if (bucket === undefined) {
    bucket = new TokenBucket(bytesPerSecond);
    buckets.set(bytesPerSecond, bucket);
  }
  return bucket;
}
