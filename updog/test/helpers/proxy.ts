import { createServer, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { closeServer, listenOnLoopback } from './loopback.js';

export interface TestProxy {
  url: string;
  /** `CONNECT host:port` or `GET http://...` lines, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A tiny forward proxy on 127.0.0.1: CONNECT tunnels (what undici uses by default, also for
 * http targets) and absolute-form requests (classic HTTP forwarding). Only loopback targets
 * are forwarded.
 */
export async function startProxy(): Promise<TestProxy> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    if (target.hostname !== '127.0.0.1') {
      res.writeHead(403).end();
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    requests.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    if (host !== '127.0.0.1') {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  return {
    url: await listenOnLoopback(server),
    requests,
    close: () => closeServer(server, sockets),
  };
}
