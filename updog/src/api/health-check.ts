/**
 * The host health check run before a boot is marked successful: an operator-supplied command
 * (no shell), healthy when it exits 0 within its deadline. Its stderr tail goes into the error, so
 * the reason reaches the NodeUpdate status.
 */
import { spawn } from 'node:child_process';
import { UserError } from '../common/errors.js';

export class HealthCheckError extends UserError {}

const STDERR_TAIL = 500;

export async function runHealthCheck(command: string[], timeoutMs: number): Promise<void> {
  const [file, ...args] = command;
  if (file === undefined) throw new UserError('the health check command is empty');
  const shown = command.join(' ');
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string } | Error>((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    child.on('error', resolve);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  if (outcome instanceof Error) throw new HealthCheckError(`cannot run the health check "${shown}": ${outcome.message}`, { cause: outcome });
  if (outcome.code === 0) return;
  const how = outcome.signal === 'SIGKILL' ? `did not finish within ${timeoutMs / 1000}s` : outcome.signal ? `died of ${outcome.signal}` : `exited ${outcome.code}`;
  const detail = outcome.stderr.trim();
  throw new HealthCheckError(`health check "${shown}" ${how}${detail ? `: ${detail}` : ''}; the boot is not marked successful`);
}
