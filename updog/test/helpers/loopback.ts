import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Listens on 127.0.0.1 with an ephemeral port; returns `http://127.0.0.1:<port>`. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Stops a server and drops its connections (and any extra sockets, e.g. proxy tunnels).
 * Idempotent, so a test may stop a server early (to simulate an outage) and still clean up.
 */
export function closeServer(server: Server, extraSockets: Iterable<Socket> = []): Promise<void> {
  for (const s of extraSockets) s.destroy();
  return new Promise<void>((resolve, reject) => {
    if (!server.listening) return resolve();
    server.closeAllConnections();
    server.close((err) => (err ? reject(err) : resolve()));
  });
}
