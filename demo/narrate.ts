/**
 * How the demo talks to a person: step headers, the command it runs (as a user would type it),
 * and that command's own output. Colours only on a terminal.
 */
import { spawn } from 'node:child_process';

const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string): string => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);

export function step(n: number, title: string, why: string): void {
  process.stdout.write(`\n${paint('1;36', `== ${n}. ${title}`)}\n${paint('2', why)}\n`);
}

export function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

export interface RunResult {
  code: number;
  stdout: string;
}

export interface Bin {
  /** The name a user types, shown in the narration. */
  name: string;
  /** Compiled entry point. */
  path: string;
}

/**
 * Runs a real CLI, showing `$ name args` and its output as it happens. stderr (logs, progress)
 * goes straight to the terminal; stdout is echoed (unless `quiet`: the demo then summarises it)
 * and also returned for the demo to check.
 */
export function run(bin: Bin, args: string[], env: NodeJS.ProcessEnv, opts: { expect?: number[]; quiet?: boolean } = {}): Promise<RunResult> {
  process.stdout.write(`${paint('1', `$ ${[bin.name, ...args].join(' ')}`)}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin.path, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!opts.quiet) process.stdout.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const exit = code ?? 1;
      process.stdout.write(paint('2', `(exit ${exit})\n`));
      const expected = opts.expect ?? [0];
      if (!expected.includes(exit)) reject(new Error(`${bin.name} ${args.join(' ')} exited ${exit}, expected ${expected.join(' or ')}`));
      else resolve({ code: exit, stdout });
    });
  });
}
