import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, normalize, sep } from 'node:path';
import { parseRange } from '@updog-ts/tuf-repo-tools';
import { closeServer, listenOnLoopback } from './loopback.js';

export interface StaticServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  /** Request targets as received (path and query), in order. */
  requests: string[];
  /** What the static handler answered (not the hook), in order: status, Range asked for, body bytes. */
  responses: ServedResponse[];
  close(): Promise<void>;
}

export interface ServedResponse {
  path: string;
  status: number;
  range: string | undefined;
  bytes: number;
}

/**
 * Return true after answering a request yourself (e.g. a 503 to exercise retries); false lets
 * the static handler serve it.
 */
export type RequestHook = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Serves files under `dir` on 127.0.0.1 with an ephemeral port. Unknown paths get 404. With
 * `ranges`, a single-range `Range` header gets a 206 (as `tuf-repo serve` answers); without, the
 * whole file, as a server that ignores ranges does.
 */
export async function startStaticServer(dir: string, hook?: RequestHook, options: { ranges?: boolean } = {}): Promise<StaticServer> {
  const root = normalize(dir + sep);
  const requests: string[] = [];
  const responses: ServedResponse[] = [];
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
    const range = options.ranges === true ? parseRange(req.headers.range, size) : undefined;
    if (range === 'unsatisfiable') {
      responses.push({ path: pathname, status: 416, range: req.headers.range, bytes: 0 });
      res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': 0 }).end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: size - 1 };
    responses.push({ path: pathname, status: range ? 206 : 200, range: req.headers.range, bytes: end - start + 1 });
    res.writeHead(range ? 206 : 200, {
      'content-length': end - start + 1,
      'content-type': 'application/octet-stream',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    createReadStream(file, { start, end }).pipe(res);
  });
  return {
    url: await listenOnLoopback(server),
    requests,
    responses,
    close: () => closeServer(server),
  };
}
