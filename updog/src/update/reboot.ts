/** Rebooting the host after an update is applied: a configurable command, run without a shell. */
import { spawn } from 'node:child_process';
import { UserError } from '../common/errors.js';

export const DEFAULT_REBOOT_COMMAND = ['systemctl', 'reboot'];

/** Splits `UPDOG_REBOOT_COMMAND`/`--reboot-command` text on whitespace (no shell quoting). */
export function parseRebootCommand(text: string): string[] {
  const words = text.trim().split(/\s+/).filter((w) => w.length > 0);
  if (words.length === 0) throw new UserError('the reboot command is empty; set --reboot-command or UPDOG_REBOOT_COMMAND');
  return words;
}

/** Runs the reboot command and waits for it; a failure to start or a non-zero exit is an error. */
export async function rebootHost(command: string[]): Promise<void> {
  const [file, ...args] = command;
  if (file === undefined) throw new UserError('the reboot command is empty');
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', resolve);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const shown = command.join(' ');
  if (outcome instanceof Error) throw new UserError(`cannot run the reboot command "${shown}": ${outcome.message}`, { cause: outcome });
  if (outcome.code !== 0) {
    throw new UserError(`the reboot command "${shown}" failed (${outcome.signal ?? `exit ${outcome.code}`}); the update is applied and takes effect on the next reboot`);
  }
}
