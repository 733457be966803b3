import { Command, CommanderError, Option } from 'commander';
import { ExitCode, UserError } from './errors.js';
import { LOG_LEVELS } from './log.js';

/** The `--log-level` option every bin offers. */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log verbosity on stderr').choices(LOG_LEVELS).env('UPDOG_LOG_LEVEL').default('info');
}

/**
 * Runs a commander program as a process entry point: user-facing errors print one line
 * `<bin>: error: <message>` on stderr and exit with their code; anything else is a bug and
 * prints its stack.
 */
export async function runCli(program: Command, argv: string[] = process.argv): Promise<void> {
  throwInsteadOfExit(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(program.name(), err);
  }
}

/**
 * A bin's last line: `runCli` without a top-level await, so that the same entry also runs as the
 * CommonJS main of a single executable. A process that exits while the command is still pending
 * (nothing left to wake it) fails with exit 13 and says so, as an unsettled top-level await
 * would, but with a message.
 */
export function runCliMain(program: Command): void {
  let settled = false;
  // A reader that goes away (`updog --help | head -1`) ends the output, as for any Unix tool.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    settled = true;
    process.exit();
  });
  void runCli(program).finally(() => {
    settled = true;
  });
  process.on('exit', () => {
    if (settled) return;
    process.stderr.write(`${program.name()}: internal error: exited before the command finished\n`);
    process.exitCode = 13;
  });
}

const usageExitCodes = new WeakMap<Command, ExitCode>();

/**
 * Usage errors of `cmd` and its subcommands exit with `code` instead of 64 (`updog tuf` follows
 * the tuf-conformance client protocol: 1 for any failure).
 */
export function setUsageExitCode(cmd: Command, code: ExitCode): Command {
  usageExitCodes.set(cmd, code);
  return cmd;
}

/** Commander copies exit settings only into subcommands created later, so apply them to the whole tree. */
function throwInsteadOfExit(cmd: Command, usageExitCode: ExitCode = ExitCode.Usage): void {
  const code = usageExitCodes.get(cmd) ?? usageExitCode;
  cmd.exitOverride((err) => {
    // help and version "errors" are successful exits
    const success = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
    err.exitCode = success ? ExitCode.Ok : code;
    throw err;
  });
  for (const sub of cmd.commands) throwInsteadOfExit(sub, code);
}

function exitCodeFor(bin: string, err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode;
  if (err instanceof UserError) {
    // "nothing to do" and "cancelled" are outcomes the operator asked for or expects, not errors
    const outcome = err.exitCode === ExitCode.NothingToDo || err.exitCode === ExitCode.Cancelled;
    process.stderr.write(`${bin}: ${outcome ? '' : 'error: '}${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`${bin}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.Failure;
}
