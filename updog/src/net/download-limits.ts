/**
 * How long and how much any repository download (TUF metadata, manifest, images, migrations) may
 * take. Without limits, a server that trickles one byte at a time, or never ends a body, keeps
 * updog (and the host API) busy for ever: the TUF "slow retrieval" and "endless data" attacks.
 * The defaults are documented in README.md ("Download limits") and set in updog.toml `[download]`.
 */
export interface DownloadLimits {
  /** Complete response headers must arrive this long after a request is sent; also the longest silence inside a body. */
  requestTimeoutMs: number;
  /** The slowest average body rate accepted: a file's body deadline is requestTimeoutMs + its length / this rate. */
  minBytesPerSecond: number;
  /** Attempts after the first one, after a 5xx answer, a connection failure or reset, or a timeout. */
  retries: number;
  /** Delay before the first retry; doubles with each further one. */
  retryBackoffMs: number;
  /** Redirects followed for one request. */
  maxRedirects: number;
  /**
   * The bandwidth cap: body bytes per second over all downloads of the process (bandwidth.ts);
   * none when undefined. Time spent held back by it does not count against the deadlines above.
   */
  maxBytesPerSecond?: number;
}

export const DEFAULT_DOWNLOAD_LIMITS: Readonly<DownloadLimits> = Object.freeze({
  requestTimeoutMs: 30_000,
  minBytesPerSecond: 32 * 1024,
  retries: 3,
  retryBackoffMs: 500,
  maxRedirects: 5,
});

/** How long one attempt may spend on a body of at most `length` bytes, headers included. */
export function attemptDeadlineMs(limits: DownloadLimits, length: number): number {
  return limits.requestTimeoutMs + Math.ceil((length * 1000) / limits.minBytesPerSecond);
}

/** The pause before retry number `retry` (0-based). */
export function backoffMs(limits: DownloadLimits, retry: number): number {
  return limits.retryBackoffMs * 2 ** retry;
}

/** The longest a download of at most `length` bytes can take with every attempt used (for docs and tests). */
export function worstCaseMs(limits: DownloadLimits, length: number): number {
  let total = 0;
  for (let attempt = 0; attempt <= limits.retries; attempt++) {
    total += attemptDeadlineMs(limits, length) + (attempt < limits.retries ? backoffMs(limits, attempt) : 0);
  }
  return total;
}
