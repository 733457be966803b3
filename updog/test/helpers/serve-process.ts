/** The real `updog serve` bin as a child process, answering on its Unix socket. */
import { spawn } from 'node:child_process';
import { UpdateApiClient, UpdateApiUnreachableError } from '../../src/api/client.js';
import { UPDOG_BIN } from './run-bin.js';

export interface ServeProcess {
  client: UpdateApiClient;
  /** Everything the server logged so far (stderr). */
  log(): string;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts `updog serve --socket <socket>` with `env` added to ours; resolves once it answers. */
export async function startServe(socket: string, env: Record<string, string | undefined>): Promise<ServeProcess> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  const child = spawn(process.execPath, [UPDOG_BIN, 'serve', '--socket', socket, '--log-level', 'debug'], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  const client = new UpdateApiClient(socket);
  // up when the socket answers (the bin needs a moment to start)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`updog serve exited ${child.exitCode}:\n${log}`);
    try {
      await client.status();
      break;
    } catch (err) {
      if (!(err instanceof UpdateApiUnreachableError)) {
        await stop();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { client, log: () => log, stop };
}
