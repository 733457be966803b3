import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, normalize, sep } from 'node:path';
import { closeServer, listenOnLoopback } from './loopback.js';

export interface StaticServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  /** Request targets as received (path and query), in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Return true after answering a request yourself (e.g. a 503 to exercise retries); false lets
 * the static handler serve it.
 */
export type RequestHook = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Serves files under `dir` on 127.0.0.1 with an ephemeral port. Unknown paths get 404. */
export async function startStaticServer(dir: string, hook?: RequestHook): Promise<StaticServer> {
  const root = normalize(dir + sep);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (hook?.(req, res)) return;
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, pathname));
    let size: number | undefined;
    try {
      const st = statSync(file);
      if (st.isFile() && file.startsWith(root)) size = st.size;
    } catch {
      // not found: 404 below
    }
    if (size === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return {
    url: await listenOnLoopback(server),
    requests,
    close: () => closeServer(server),
  };
}
