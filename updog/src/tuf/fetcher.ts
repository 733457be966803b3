import { setTimeout as sleep } from 'node:timers/promises';
import { BaseFetcher } from 'tuf-js/dist/fetcher.js';
import { DownloadError, DownloadHTTPError } from 'tuf-js/dist/error.js';
import { fetch, type Dispatcher } from 'undici';
import type { Logger } from '../common/log.js';

export interface FetcherOptions {
  dispatcher: Dispatcher;
  /** Added to every request URL, e.g. `{ seed, version }` so the server can see the fleet's state. */
  queryParams?: Record<string, string>;
  /** Attempts after the first one, for connection errors and 5xx answers. */
  retries?: number;
  /** Delay before the first retry; doubles with each further attempt. */
  backoffMs?: number;
  logger?: Logger;
}

type Attempt = { ok: true; body: ReadableStream<Uint8Array<ArrayBuffer>> } | { ok: false; error: Error; retryable: boolean };

/** Appends query parameters to a URL (keeping any it already has). */
export function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * tuf-js fetcher on undici, so proxies and idle timeouts apply (tuf-js's own fetcher ignores
 * HTTPS_PROXY and only has a whole-body deadline). 403 and 404 become tuf-js DownloadHTTPError,
 * which is how the root-rotation walk learns it has reached the newest root.
 */
export class UndiciFetcher extends BaseFetcher {
  constructor(private readonly opts: FetcherOptions) {
    super();
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const target = this.opts.queryParams ? withQuery(url, this.opts.queryParams) : url;
    const retries = this.opts.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(target);
      if (outcome.ok) return outcome.body;
      if (attempt >= retries || !outcome.retryable) throw outcome.error;
      const delay = (this.opts.backoffMs ?? 250) * 2 ** attempt;
      this.opts.logger?.warn({ url: target, attempt: attempt + 1, delayMs: delay, err: outcome.error.message }, 'request failed, retrying');
      await sleep(delay);
    }
  }

  private async attempt(url: string): Promise<Attempt> {
    let response;
    try {
      response = await fetch(url, { dispatcher: this.opts.dispatcher });
    } catch (err) {
      return { ok: false, error: new DownloadError(`GET ${url}: ${undiciReason(err)}`), retryable: true };
    }
    if (response.ok && response.body) {
      return { ok: true, body: namingBodyErrors(response.body as ReadableStream<Uint8Array<ArrayBuffer>>, url) };
    }
    await response.body?.cancel();
    return {
      ok: false,
      error: new DownloadHTTPError(`GET ${url}: HTTP ${response.status}`, response.status),
      retryable: response.status >= 500,
    };
  }
}

/** undici wraps the useful reason (ECONNREFUSED, body timeout, ...) in `cause`. */
function undiciReason(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : (err as Error).message;
}

/** Mid-body failures (idle timeout, reset) surface as DownloadError naming the URL, not undici's bare "terminated". */
function namingBodyErrors(body: ReadableStream<Uint8Array<ArrayBuffer>>, url: string): ReadableStream<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(new DownloadError(`GET ${url}: ${undiciReason(err)}`));
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
