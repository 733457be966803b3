import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface BinResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Path of a compiled bin under dist/ (run `npx tsc -p tsconfig.json` first), from the repo root. */
export function distBin(relativeJs: string): string {
  return resolve(import.meta.dirname, '../../..', relativeJs);
}

export const UPDOG_BIN = distBin('updog/dist/cli/updog.js');

/**
 * Runs a compiled JS bin with the current node. `env` is layered over the test's environment;
 * a key set to undefined is removed (e.g. to drop proxy variables).
 */
export async function runBin(binPath: string, args: string[], env: Record<string, string | undefined> = {}): Promise<BinResult> {
  return runExecutable(process.execPath, [binPath, ...args], { ...process.env, ...env });
}

/** Runs an executable with exactly `env` (keys set to undefined left out) and collects its output. */
export async function runExecutable(command: string, args: string[], env: Record<string, string | undefined>): Promise<BinResult> {
  const defined: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) defined[k] = v;
  const child = spawn(command, args, { env: defined, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', (c) => done(c));
  });
  return { code, stdout, stderr };
}
