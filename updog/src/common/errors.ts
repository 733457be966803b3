/**
 * Exit codes shared by every bin of the project. Scripts rely on these, so they are part of the
 * public interface: change them only with a README update.
 */
export const ExitCode = {
  Ok: 0,
  /** Any failure: bad input, verification failure, I/O error. */
  Failure: 1,
  /** The command worked but found nothing to do (no update available, nothing staged). */
  NothingToDo: 2,
  /** Another updog process holds the lock. */
  Busy: 3,
  /** Stopped on request (SIGINT/SIGTERM) before it finished; nothing was left half-valid. */
  Cancelled: 5,
  /** Command-line usage error (unknown option, missing argument). */
  Usage: 64,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error whose message is meant for the operator: it says what is wrong and, where possible,
 * what to do. The CLI prints only the message (no stack) and exits with `exitCode`.
 */
export class UserError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, options: { exitCode?: ExitCode; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? ExitCode.Failure;
  }
}

/** Outcome used to leave a command with "nothing to do" without it being an error. */
export class NothingToDo extends UserError {
  constructor(message: string) {
    super(message, { exitCode: ExitCode.NothingToDo });
  }
}
