/**
 * UTC datetimes as manifests write them. Parsing is lenient like upstream's (single-digit
 * fields such as `2019-8-06T15:00:00Z`, a space instead of `T`, fractions, numeric offsets);
 * formatting is always the canonical `YYYY-MM-DDTHH:MM:SSZ`.
 */
const LENIENT = /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/** Returns undefined when `text` is not a valid datetime with a zone. */
export function parseLenientDatetime(text: string): Date | undefined {
  const m = LENIENT.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const d = new Date(utc);
  // Date.UTC rolls over out-of-range fields (Feb 30 -> Mar 2); reject instead.
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetMinutes = m[8] !== undefined ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  return new Date(utc - offsetMinutes * 60_000);
}

export function formatUtcSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
