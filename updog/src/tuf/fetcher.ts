import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Fetcher } from 'tuf-js/dist/fetcher.js';
import { DownloadError, DownloadHTTPError } from 'tuf-js/dist/error.js';
import type { Dispatcher } from 'undici';
import type { Logger } from '../common/log.js';
import { boundedDownload, DownloadFailedError, HttpStatusError, type DownloadSpec } from '../net/bounded-download.js';
import { DEFAULT_DOWNLOAD_LIMITS, type DownloadLimits } from '../net/download-limits.js';

export interface FetcherOptions {
  dispatcher: Dispatcher;
  /** Added to every request URL, e.g. `{ seed, version }` so the server can see the fleet's state. */
  queryParams?: Record<string, string>;
  limits?: DownloadLimits;
  logger?: Logger;
  signal?: AbortSignal;
}

/** Appends query parameters to a URL (keeping any it already has). */
export function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * tuf-js fetcher on updog's bounded download (proxies, deadlines, retries, redirects, length cap
 * enforced by cancelling the body). tuf-js's own BaseFetcher stops reading an over-long body
 * without cancelling it, which left the connection open for ever. 403 and 404 become tuf-js
 * DownloadHTTPError, which is how the root-rotation walk learns it has reached the newest root.
 *
 * tuf-js wraps some of its download errors into a RuntimeError carrying only their text;
 * `failure` keeps the last one, so the caller can report it as it was.
 */
export class UndiciFetcher implements Fetcher {
  failure: DownloadFailedError | undefined;

  constructor(private readonly opts: FetcherOptions) {}

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    await this.download(url, maxLength, async (chunk) => {
      chunks.push(chunk);
    });
    return Buffer.concat(chunks);
  }

  /** Into a private temp file that lives while `handler` runs (tuf-js verifies and copies it). */
  async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    const file = join(tmpdir(), `updog-download-${randomBytes(6).toString('hex')}`);
    const out = await open(file, 'wx', 0o600);
    try {
      try {
        await this.download(url, maxLength, async (chunk) => {
          await out.write(chunk);
        });
      } finally {
        await out.close();
      }
      return await handler(file);
    } finally {
      await rm(file, { force: true });
    }
  }

  private async download(url: string, maxLength: number, onChunk: (chunk: Buffer) => Promise<void>): Promise<void> {
    const spec: DownloadSpec = {
      url: this.opts.queryParams ? withQuery(url, this.opts.queryParams) : url,
      name: decodeURIComponent(basename(new URL(url).pathname)),
      maxLength,
      allowedBy: 'allowed for it (its signed length, or updog\'s maximum for its role)',
    };
    try {
      for await (const chunk of boundedDownload(spec, {
        dispatcher: this.opts.dispatcher,
        limits: this.opts.limits ?? DEFAULT_DOWNLOAD_LIMITS,
        ...(this.opts.logger === undefined ? {} : { logger: this.opts.logger }),
        ...(this.opts.signal === undefined ? {} : { signal: this.opts.signal }),
      })) {
        await onChunk(chunk);
      }
    } catch (err) {
      if (err instanceof HttpStatusError) throw new DownloadHTTPError(err.message, err.statusCode);
      if (err instanceof DownloadFailedError) {
        this.failure = err;
        throw new DownloadError(err.message, { cause: err });
      }
      throw err;
    }
  }
}
