import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UpdateApiClient, UpdateApiTimeoutError } from '../../src/api/client.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

let dir: TempDir | undefined;
let server: Server | undefined;
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  dir?.cleanup();
});

/** A Unix socket that accepts connections and never answers (a wedged server). */
async function silentSocket(): Promise<string> {
  dir = tempDir();
  const path = join(dir.path, 'api.sock');
  server = createServer((s) => void sockets.add(s));
  await new Promise<void>((r) => server!.listen(path, r));
  return path;
}

describe('UpdateApiClient timeouts', () => {
  it('gives up on a server that never answers, saying what to do', async () => {
    const socket = await silentSocket();
    const client = new UpdateApiClient(socket, { queryMs: 200, commandMs: 300 });
    const status = await client.status().catch((e: unknown) => e);
    expect(status).toBeInstanceOf(UpdateApiTimeoutError);
    expect((status as Error).message).toBe(
      `the update API on ${socket} did not answer GET /updates/status within 200 ms; a command may still be running: see \`updog api status\`, or stop it with \`updog api cancel\``,
    );
    const refresh = await client.refresh().catch((e: unknown) => e);
    expect((refresh as Error).message).toMatch(/did not answer POST \/actions\/refresh-updates within 300 ms;/);
    const cancel = await client.cancel().catch((e: unknown) => e);
    expect((cancel as Error).message).toMatch(/did not answer POST \/actions\/cancel within 200 ms;/);
  });
});
