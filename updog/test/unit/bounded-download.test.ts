import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  boundedDownload,
  DownloadCancelledError,
  DownloadFailedError,
  DownloadRefusedError,
  downloadBytes,
  downloadRange,
  RangeMismatchError,
  RangeNotSupportedError,
  type DownloadSpec,
} from '../../src/net/bounded-download.js';
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

describe('downloadRange', () => {
  /** `bytes=a-b` as [a, b + 1]. */
  const asked = (req: IncomingMessage): [number, number] => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (m === null) throw new Error(`not a closed range: ${req.headers.range}`);
    return [Number(m[1]), Number(m[2]) + 1];
  };
  const partial = (res: ServerResponse, from: number, to: number, extra: Record<string, number | string> = {}): ServerResponse =>
    res.writeHead(206, { 'content-range': `bytes ${from}-${to - 1}/${FILE.length}`, 'content-length': to - from, ...extra });
  const collect = async (chunks: AsyncIterable<Buffer>): Promise<Buffer> => {
    const out: Buffer[] = [];
    for await (const c of chunks) out.push(c);
    return Buffer.concat(out);
  };

  it('asks for exactly the range and streams the 206 body, of a file of known or unknown (*) length', async () => {
    const url = await serve((req, res) => {
      const [from, to] = asked(req);
      const length = req.url === '/star' ? '*' : FILE.length;
      res.writeHead(206, { 'content-range': `bytes ${from}-${to - 1}/${length}`, 'content-length': to - from }).end(FILE.subarray(from, to));
    });
    const ctx = { dispatcher, limits: LIMITS };
    expect((await collect(downloadRange(spec(`${url}/f`), ctx, 12_345, 67_890))).equals(FILE.subarray(12_345, 67_890))).toBe(true);
    expect((await collect(downloadRange(spec(`${url}/star`), ctx, 12_345, 67_890))).equals(FILE.subarray(12_345, 67_890))).toBe(true);
    expect([...(await collect(downloadRange(spec(`${url}/f`), ctx, FILE.length - 1, FILE.length)))]).toEqual([FILE[FILE.length - 1]]);
    expect(seen.map((h) => [h['accept-encoding'], h.range])).toEqual([
      ['identity', 'bytes=12345-67889'],
      ['identity', 'bytes=12345-67889'],
      ['identity', `bytes=${FILE.length - 1}-${FILE.length - 1}`],
    ]);
  });

  it('says the server does not serve ranges when it answers 200 with the whole file, without retrying', async () => {
    const url = await serve((_req, res) => res.writeHead(200, { 'content-length': FILE.length }).end(FILE));
    const err = await failure(collect(downloadRange(spec(`${url}/f`), { dispatcher, limits: LIMITS }, 100, 200)));
    expect(err).toBeInstanceOf(RangeNotSupportedError);
    expect(err.message).toBe(`GET ${url}/f: file.bin: asked for bytes=100-199, the server sent the whole file (HTTP 200): it does not serve byte ranges`);
    expect(seen).toHaveLength(1);
  });

  it('refuses a 206 for another range, of a file of another length, or without Content-Range, without retrying', async () => {
    for (const contentRange of ['bytes 0-99/100000', 'bytes 100-200/100000', 'bytes 100-199/99999', 'bytes 100-199', undefined]) {
      seen = [];
      const url = await serve((_req, res) => {
        res.writeHead(206, { 'content-length': 100, ...(contentRange === undefined ? {} : { 'content-range': contentRange }) }).end(FILE.subarray(100, 200));
      });
      const err = await failure(collect(downloadRange(spec(`${url}/f`), { dispatcher, limits: LIMITS }, 100, 200)));
      expect(err).toBeInstanceOf(RangeMismatchError);
      expect(err.message).toBe(`GET ${url}/f: file.bin: asked for bytes=100-199, the server answered with Content-Range ${contentRange ?? 'missing'}`);
      expect(seen).toHaveLength(1);
      await closeServer(server!);
    }
  });

  it('asks for the rest of the range after a short answer or a reset, and gives up after the retries', async () => {
    const url = await serve((req, res, n) => {
      const [from, to] = asked(req);
      if (n === 1) partial(res, from, to, { 'content-length': 1000 }).end(FILE.subarray(from, from + 1000)); // well-formed, but short
      else if (n === 2) partial(res, from, to).write(FILE.subarray(from, from + 5000), () => req.socket.resetAndDestroy());
      else partial(res, from, to).end(FILE.subarray(from, to));
    });
    const limits = { ...LIMITS, retries: 2 };
    const got = await collect(downloadRange(spec(`${url}/f`), { dispatcher, limits }, 10_000, 60_000));
    expect(got.equals(FILE.subarray(10_000, 60_000))).toBe(true);
    expect(seen.map((h) => h.range)).toEqual(['bytes=10000-59999', 'bytes=11000-59999', expect.stringMatching(/^bytes=1[1-6]\d{3}-59999$/)]);

    seen = [];
    await closeServer(server!);
    const shortUrl = await serve((req, res) => {
      const [from, to] = asked(req);
      partial(res, from, to, { 'content-length': 10 }).end(FILE.subarray(from, from + 10));
    });
    const err = await failure(collect(downloadRange(spec(`${shortUrl}/f`), { dispatcher, limits: LIMITS }, 0, 100)));
    expect(err).toBeInstanceOf(DownloadFailedError);
    expect(err.message).toBe(`GET ${shortUrl}/f: file.bin: the answer to bytes=10-99 ended after 10 of its 90 bytes (2 attempts)`);
    expect(seen.map((h) => h.range)).toEqual(['bytes=0-99', 'bytes=10-99']);
  });

  it('cancels a body longer than the range at its first extra byte, without retrying', async () => {
    const url = await serve((req, res) => {
      const [from, to] = asked(req);
      // no Content-Length: the excess shows only in the body
      res.writeHead(206, { 'content-range': `bytes ${from}-${to - 1}/${FILE.length}` });
      res.end(FILE.subarray(from, to + 1));
    });
    const err = await failure(collect(downloadRange(spec(`${url}/f`), { dispatcher, limits: LIMITS }, 500, 1500)));
    expect(err).toBeInstanceOf(DownloadRefusedError);
    expect(err.message).toBe(`GET ${url}/f: file.bin: the server sent more than the 1000 bytes of bytes=500-1499; download cancelled`);
    expect(seen).toHaveLength(1);
  });

  it('rejects a range outside the file before any request', () => {
    const ctx = { dispatcher, limits: LIMITS };
    for (const [a, b] of [[-1, 10], [10, 10], [0, FILE.length + 1], [0.5, 2]] as const) {
      expect(() => downloadRange(spec('http://127.0.0.1:9/f'), ctx, a, b)).toThrow(RangeError);
    }
    expect(() => downloadRange(spec('http://127.0.0.1:9/f'), ctx, 7, 5)).toThrow('file.bin: range 7..5 is not inside its 100000 bytes');
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
