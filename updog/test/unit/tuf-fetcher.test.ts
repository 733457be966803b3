import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DownloadError, DownloadHTTPError } from 'tuf-js/dist/error.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_DOWNLOAD_LIMITS, type DownloadLimits } from '../../src/net/download-limits.js';
import { createDispatcher } from '../../src/tuf/dispatcher.js';
import { UndiciFetcher, withQuery } from '../../src/tuf/fetcher.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

let server: StaticServer | undefined;
let dir: TempDir | undefined;
const dispatcher = createDispatcher({ requestTimeoutMs: 300, noProxy: ['127.0.0.1'] });
const limits = (retries: number): DownloadLimits => ({ ...DEFAULT_DOWNLOAD_LIMITS, requestTimeoutMs: 300, retries, retryBackoffMs: 1 });
afterEach(async () => {
  await server?.close();
  dir?.cleanup();
});
afterAll(() => dispatcher.close());

/** Serves `ok.txt`; `/flaky` answers 503 `failures` times, then 200; `/forbidden` 403; `/stall` sends headers and then nothing. */
async function serve(failures: number): Promise<StaticServer> {
  dir = tempDir();
  writeFileSync(join(dir.path, 'ok.txt'), 'hello');
  let left = failures;
  server = await startStaticServer(dir.path, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/flaky' && left-- > 0) {
      res.writeHead(503).end();
      return true;
    }
    if (path === '/flaky') {
      res.writeHead(200, { 'content-length': 2 }).end('ok');
      return true;
    }
    if (path === '/forbidden') {
      res.writeHead(403).end();
      return true;
    }
    if (path === '/stall') {
      res.writeHead(200, { 'content-length': 10 });
      res.write('abc');
      return true;
    }
    return false;
  });
  return server;
}

describe('UndiciFetcher', () => {
  it('adds query parameters and returns the body', async () => {
    const s = await serve(0);
    const f = new UndiciFetcher({ dispatcher, queryParams: { seed: '7', version: '1.0.0' } });
    expect((await f.downloadBytes(`${s.url}/ok.txt`, 100)).toString()).toBe('hello');
    expect(s.requests).toEqual(['/ok.txt?seed=7&version=1.0.0']);
  });

  it('retries 5xx answers with backoff until one succeeds', async () => {
    const s = await serve(2);
    const f = new UndiciFetcher({ dispatcher, limits: limits(2) });
    expect((await f.downloadBytes(`${s.url}/flaky`, 100)).toString()).toBe('ok');
    expect(s.requests).toEqual(['/flaky', '/flaky', '/flaky']);
  });

  it('gives up after the configured retries with the last HTTP status', async () => {
    const s = await serve(5);
    const f = new UndiciFetcher({ dispatcher, limits: limits(1) });
    const err = await f.downloadBytes(`${s.url}/flaky`, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toBe(`GET ${s.url}/flaky: HTTP 503 (2 attempts)`);
    expect(f.failure?.message).toBe((err as Error).message);
    expect(s.requests).toHaveLength(2);
  });

  it('throws DownloadHTTPError without retrying for 404 and 403', async () => {
    const s = await serve(0);
    const f = new UndiciFetcher({ dispatcher, limits: limits(3) });
    for (const [path, status] of [['/missing.json', 404], ['/forbidden', 403]] as const) {
      const err = await f.downloadBytes(`${s.url}${path}`, 100).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DownloadHTTPError);
      expect((err as DownloadHTTPError).statusCode).toBe(status);
    }
    expect(s.requests).toEqual(['/missing.json', '/forbidden']);
  });

  it('enforces the length cap', async () => {
    const s = await serve(0);
    const f = new UndiciFetcher({ dispatcher, limits: limits(0) });
    await expect(f.downloadBytes(`${s.url}/ok.txt`, 4)).rejects.toThrow(
      `GET ${s.url}/ok.txt: ok.txt: the server sent more than the 4 bytes allowed for it (its signed length, or updog's maximum for its role); download cancelled`,
    );
  });

  it('aborts a body that stops flowing (idle timeout)', async () => {
    const s = await serve(0);
    // the per-file deadline is 100 s off: the dispatcher's 300 ms idle timeout ends it
    const f = new UndiciFetcher({ dispatcher, limits: { ...limits(0), minBytesPerSecond: 1 } });
    const err = await f.downloadBytes(`${s.url}/stall`, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toBe(`GET ${s.url}/stall: stall: the server sent nothing for 300 ms (1 attempt)`);
  });

  it('reports connection failures as tuf-js DownloadError', async () => {
    const s = await serve(0);
    const url = s.url;
    await s.close();
    const f = new UndiciFetcher({ dispatcher, limits: limits(1) });
    const err = await f.downloadBytes(`${url}/ok.txt`, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toBe(`GET ${url}/ok.txt: ok.txt: connect ECONNREFUSED ${url.slice('http://'.length)} (2 attempts)`);
  });
});

describe('withQuery', () => {
  it('keeps existing parameters and encodes values', () => {
    expect(withQuery('http://h/a/b.json?x=1', { seed: '5', target: 'dir/a b' })).toBe('http://h/a/b.json?x=1&seed=5&target=dir%2Fa+b');
  });
});
