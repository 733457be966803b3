/**
 * UTC datetimes as manifests write them. Parsing is lenient like upstream's (single-digit
 * fields such as `2019-8-06T15:00:00Z`, a space instead of `T`, fractions, numeric offsets) and
 * keeps the instant to the nanosecond, as upstream's chrono does; formatting writes it back as
 * chrono does: `YYYY-MM-DDTHH:MM:SSZ`, with 3, 6 or 9 fraction digits when there is a fraction.
 */
const LENIENT = /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/** An instant to the nanosecond: a Date (milliseconds) and the nanoseconds below its millisecond. */
export interface Instant {
  date: Date;
  /** 0..999_999. */
  subMsNanos: number;
}

/** Returns undefined when `text` is not a valid datetime with a zone. Digits past the ninth are dropped (as chrono). */
export function parseLenientDatetime(text: string): Instant | undefined {
  const m = LENIENT.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const nanos = Number(((m[7] ?? '') + '000000000').slice(0, 9));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, Math.floor(nanos / 1e6));
  const d = new Date(utc);
  // Date.UTC rolls over out-of-range fields (Feb 30 -> Mar 2); reject instead.
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetMinutes = m[8] !== undefined ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  return { date: new Date(utc - offsetMinutes * 60_000), subMsNanos: nanos % 1e6 };
}

export function formatUtcSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The instant in UTC, fraction digits as chrono's AutoSi writes them: none, 3, 6 or 9. */
export function formatUtcInstant(i: Instant): string {
  const nanos = i.date.getUTCMilliseconds() * 1e6 + i.subMsNanos;
  const digits = String(nanos).padStart(9, '0');
  const fraction = nanos === 0 ? '' : nanos % 1e6 === 0 ? `.${digits.slice(0, 3)}` : nanos % 1e3 === 0 ? `.${digits.slice(0, 6)}` : `.${digits}`;
  return formatUtcSeconds(i.date).replace(/Z$/, `${fraction}Z`);
}
