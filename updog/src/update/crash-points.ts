/**
 * Crash injection for the crash-safety tests: `UPDOG_CRASH_AT=<point>` makes the process SIGKILL
 * itself at that point of an update, as a power cut would. `<point>` is a step name (see
 * `UpdateStep`) or `<counter>:<image>:<bytes>`, which crashes once that many bytes of the image
 * were handed to the disk: counter `write` counts all of them, `local` and `fetched` those a block
 * install took from the host or fetched. Unset (always, outside tests) it does nothing.
 */
export type UpdateStep =
  | 'after-clear-inactive'
  | `before-image:${string}`
  | `after-image:${string}`
  | 'before-mark-valid'
  | 'after-mark-valid'
  | 'after-upgrade';

const CRASH_ENV = 'UPDOG_CRASH_AT';

function crash(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not stop the process');
}

export function crashPoint(step: UpdateStep): void {
  if (process.env[CRASH_ENV] === step) crash();
}

/** Crashes when `<counter>:<image>:<bytes>` is set and the count has reached that many bytes. */
export function crashAfterBytes(counter: 'write' | 'local' | 'fetched', image: string, bytes: number): void {
  const spec = process.env[CRASH_ENV];
  const prefix = `${counter}:${image}:`;
  if (spec === undefined || !spec.startsWith(prefix)) return;
  if (bytes >= Number(spec.slice(prefix.length))) crash();
}
