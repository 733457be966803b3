/**
 * Durations ("in 7 days", "2 weeks"), points in time (RFC 3339 or relative) and the exact
 * `expires` form TUF metadata carries here: `YYYY-MM-DDTHH:MM:SSZ`, never fractions.
 */
import { UserError } from '@updog-ts/updog/common';
import { formatUtcSeconds } from '@updog-ts/updog/release';

export class TimeError extends UserError {}

const UNIT_MS: Record<string, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
};

const DURATION = /^(?:in\s+)?(\d+)\s*(second|minute|hour|day|week)s?$/i;

/** Parses `N second(s)|minute(s)|hour(s)|day(s)|week(s)`, with or without a leading `in`. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) {
    throw new TimeError(`"${text}" is not a duration (expected e.g. "7 days", "in 2 weeks", "1 hour")`);
  }
  return Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]!;
}

/** Whether `text` looks like a duration rather than an absolute time. */
function isDuration(text: string): boolean {
  return DURATION.test(text.trim());
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** A point in time: RFC 3339 (`2030-01-01T00:00:00Z`) or relative to `now` (`in 7 days`). */
export function parseTime(text: string, now: Date = new Date()): Date {
  if (isDuration(text)) return new Date(now.getTime() + parseDuration(text));
  if (!RFC3339.test(text.trim())) {
    throw new TimeError(`"${text}" is neither an RFC 3339 time (2030-01-01T00:00:00Z) nor a duration ("in 7 days")`);
  }
  const date = new Date(text.trim());
  if (Number.isNaN(date.getTime())) throw new TimeError(`"${text}" is not a valid time`);
  return date;
}

/** TUF `expires` text: whole seconds, UTC, `Z` suffix (fractions are truncated). */
export function formatExpires(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new TimeError('invalid expiry date');
  return formatUtcSeconds(date);
}
