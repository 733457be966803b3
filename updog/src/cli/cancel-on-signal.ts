/**
 * `updog update` and `update-image` stop cleanly on SIGINT or SIGTERM: the signal aborts the
 * running prepare through its AbortSignal (its downloads stop, the set being written is never
 * marked valid), the update lock is released as on any failure, and the command ends with
 * exit code 5 (ExitCode.Cancelled). A second signal ends the process at once (default action);
 * the lock it leaves is taken over by the next run (lock.ts).
 */
import { ExitCode, UserError } from '../common/errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** The command was stopped by a signal. */
export class CancelledError extends UserError {
  constructor(message: string, cause: unknown) {
    super(message, { exitCode: ExitCode.Cancelled, cause });
  }
}

/**
 * Runs `fn` with a signal that SIGINT/SIGTERM abort; its failure after such a signal is a
 * CancelledError (a signal too late to stop it leaves its result as it is).
 */
export async function cancelOnSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let received: NodeJS.Signals | undefined;
  const stopListening = (): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  function onSignal(signal: NodeJS.Signals): void {
    received = signal;
    stopListening();
    abort.abort();
  }
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    return await fn(abort.signal);
  } catch (err) {
    if (received === undefined) throw err;
    throw new CancelledError(`cancelled by ${received}: nothing was applied and the inactive partition set is left unbootable; run the command again to continue`, err);
  } finally {
    stopListening();
  }
}
