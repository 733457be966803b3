/**
 * The one written form of a byte rate, for updog.toml `max_download_rate` and `--max-rate`: bytes
 * per second as a whole number (`1048576`), or a number with a binary unit (`512KiB`, `10MiB`,
 * `1.5GiB`), optionally followed by `/s`.
 */
const UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

export const BYTE_RATE_FORM = 'bytes per second, e.g. 10485760 or "10MiB" (units B, KiB, MiB, GiB)';

/** Bytes per second (a positive whole number), or undefined when `value` is not in that form. */
export function parseByteRate(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?(?:\/s)?\s*$/.exec(value);
  if (m === null) return undefined;
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2] ?? '']!);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}
