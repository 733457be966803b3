import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { boundedDownload, DownloadCancelledError, DownloadFailedError, DownloadRefusedError, downloadBytes, type DownloadSpec } from '../../src/net/bounded-download.js';
import { attemptDeadlineMs, backoffMs, DEFAULT_DOWNLOAD_LIMITS, worstCaseMs, type DownloadLimits } from '../../src/net/download-limits.js';
import { createDispatcher } from '../../src/tuf/dispatcher.js';
import { closeServer, listenOnLoopback } from '../helpers/loopback.js';

const LIMITS: DownloadLimits = { ...DEFAULT_DOWNLOAD_LIMITS, requestTimeoutMs: 2000, retries: 1, retryBackoffMs: 1, maxRedirects: 2 };
const dispatcher = createDispatcher({ requestTimeoutMs: LIMITS.requestTimeoutMs, noProxy: ['127.0.0.1'] });
const FILE = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));

let server: Server | undefined;
/** Request headers as received, in order. */
let seen: IncomingMessage['headers'][] = [];
afterEach(async () => {
  if (server) await closeServer(server);
  server = undefined;
  seen = [];
});
afterAll(() => dispatcher.close());

async function serve(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<string> {
  server = createServer((req, res) => {
    seen.push(req.headers);
    handler(req, res, seen.length);
  });
  return listenOnLoopback(server);
}

const spec = (url: string, maxLength = FILE.length): DownloadSpec => ({ url, name: 'file.bin', maxLength, allowedBy: 'the signed metadata allow' });
const failure = (p: Promise<unknown>): Promise<Error> => p.then(() => new Error('expected a failure'), (e: unknown) => e as Error);

describe('boundedDownload', () => {
  it('asks for identity encoding and resumes after a reset with a Range request the server honours', async () => {
    const url = await serve((req, res, n) => {
      if (n === 1) {
        res.writeHead(200, { 'content-length': FILE.length });
        res.write(FILE.subarray(0, 40_000), () => req.socket.resetAndDestroy());
        return;
      }
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1]);
      res.writeHead(206, { 'content-range': `bytes ${from}-${FILE.length - 1}/${FILE.length}`, 'content-length': FILE.length - from });
      res.end(FILE.subarray(from));
    });
    expect((await downloadBytes(spec(`${url}/f`), { dispatcher, limits: LIMITS })).equals(FILE)).toBe(true);
    expect(seen.map((h) => [h['accept-encoding'], h.range])).toEqual([
      ['identity', undefined],
      ['identity', expect.stringMatching(/^bytes=\d+-$/)],
    ]);
  });

  it('retries when a resumed answer starts at the wrong place', async () => {
    const url = await serve((req, res) => {
      if (req.headers.range === undefined) {
        res.writeHead(200, { 'content-length': FILE.length });
        res.write(FILE.subarray(0, 40_000), () => req.socket.resetAndDestroy());
        return;
      }
      res.writeHead(206, { 'content-range': `bytes 0-${FILE.length - 1}/${FILE.length}` }).end(FILE);
    });
    const err = await failure(downloadBytes(spec(`${url}/f`), { dispatcher, limits: LIMITS }));
    expect(err).toBeInstanceOf(DownloadFailedError);
    expect(err.message).toBe(`GET ${url}/f: file.bin: the server resumed at the wrong place (Content-Range bytes 0-99999/100000) (2 attempts)`);
  });

  it('refuses a Content-Length over the limit before reading the body, without retrying', async () => {
    const url = await serve((_req, res) => res.writeHead(200, { 'content-length': FILE.length + 1 }).end(Buffer.concat([FILE, Buffer.from('x')])));
    const err = await failure(downloadBytes(spec(`${url}/f`), { dispatcher, limits: LIMITS }));
    expect(err).toBeInstanceOf(DownloadRefusedError);
    expect(err.message).toBe(`GET ${url}/f: file.bin: the server sent more than the 100000 bytes the signed metadata allow; download cancelled`);
    expect(seen).toHaveLength(1);
  });

  it('follows redirects up to the limit, resolving relative locations', async () => {
    const url = await serve((req, res) => {
      const hop = Number(req.url?.slice(1));
      if (hop < 2) res.writeHead(hop === 0 ? 301 : 307, { location: `/${hop + 1}` }).end();
      else res.writeHead(200, { 'content-length': FILE.length }).end(FILE);
    });
    expect((await downloadBytes(spec(`${url}/0`), { dispatcher, limits: LIMITS })).equals(FILE)).toBe(true);
    const tooMany = await failure(downloadBytes(spec(`${url}/0`), { dispatcher, limits: { ...LIMITS, maxRedirects: 1 } }));
    expect(tooMany).toBeInstanceOf(DownloadRefusedError);
    expect(tooMany.message).toBe(`GET ${url}/0: file.bin: more than 1 redirects`);
  });

  it('refuses a redirect to anything but http(s)', async () => {
    const url = await serve((_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end());
    const err = await failure(downloadBytes(spec(`${url}/f`), { dispatcher, limits: LIMITS }));
    expect(err.message).toBe(`GET ${url}/f: file.bin: HTTP 302 redirect without a usable http(s) Location`);
  });

  it('stops at once on cancel, mid-body', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': FILE.length });
      res.write(FILE.subarray(0, 1000));
    });
    const cancel = new AbortController();
    const chunks = boundedDownload(spec(`${url}/f`), { dispatcher, limits: LIMITS, signal: cancel.signal });
    expect((await chunks.next()).value).toHaveLength(1000);
    cancel.abort();
    const err = await failure(chunks.next());
    expect(err).toBeInstanceOf(DownloadCancelledError);
    expect(err.message).toBe(`GET ${url}/f: download of file.bin cancelled`);
  });
});

describe('download limits', () => {
  it('scales the body deadline with the length and adds up the worst case', () => {
    const limits: DownloadLimits = { requestTimeoutMs: 30_000, minBytesPerSecond: 32_768, retries: 3, retryBackoffMs: 500, maxRedirects: 5 };
    expect(attemptDeadlineMs(limits, 16_384)).toBe(30_500);
    expect(attemptDeadlineMs(limits, 500_000_000)).toBe(30_000 + 15_258_790);
    expect([0, 1, 2].map((r) => backoffMs(limits, r))).toEqual([500, 1000, 2000]);
    expect(worstCaseMs(limits, 0)).toBe(4 * 30_000 + 3_500);
  });
});
