/**
 * How a bin's process ends (runCliMain, the last line of every bin): a reader that goes away and a
 * command that never settles. Both run as real processes on the compiled code.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExecutable, UPDOG_BIN } from '../helpers/run-bin.js';

const CLI_MAIN = resolve(import.meta.dirname, '../../dist/common/cli-main.js');

describe('runCliMain', () => {
  it('ends quietly with exit 0 when stdout is closed before the help is written (| head)', async () => {
    const child = spawn(process.execPath, [UPDOG_BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before updog writes a byte
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('fails with exit 13 and says so when the process ends while the command is still pending', async () => {
    const script = `
      import { Command } from 'commander';
      import { runCliMain } from ${JSON.stringify(CLI_MAIN)};
      runCliMain(new Command('stuck').action(() => new Promise(() => {})));
    `;
    const r = await runExecutable(process.execPath, ['--input-type=module', '-e', script], { ...process.env });
    expect(r).toEqual({ code: 13, stdout: '', stderr: 'stuck: internal error: exited before the command finished\n' });
  });
});
