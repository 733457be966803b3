const MINUTE_MS = 60_000;
const MAX_BACKOFF_MS = 24 * 60 * MINUTE_MS;

/** Delay before retrying a node that has failed `attempts` times in a row: 2^attempts minutes, at most 24 h. */
export function backoffMs(attempts: number): number {
  // 2^11 minutes already exceeds a day; clamping the exponent keeps huge counts from overflowing
  return Math.min(2 ** Math.min(Math.max(attempts, 0), 11) * MINUTE_MS, MAX_BACKOFF_MS);
}
