/**
 * The one way updog downloads from a repository: a GET bounded in bytes and time, with retries and
 * redirects. Every attempt has a deadline for its headers and one for its body scaled by the most
 * bytes the file may have (download-limits.ts); a body longer than that is cancelled at its first
 * extra byte, and the connection is destroyed, never drained, so nothing waits on it afterwards.
 * A retry after bytes were delivered asks for the rest only (Range), or skips what it already has.
 * `downloadRange` fetches one byte range of a file the same way, and insists on exactly that range.
 * With a bandwidth cap set, every body byte passes the process's token bucket (bandwidth.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { request } from './http-client.js';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { processBandwidth } from './bandwidth.js';
import { attemptDeadlineMs, backoffMs, type DownloadLimits } from './download-limits.js';

export interface DownloadSpec {
  url: string;
  /** Names the file in messages: a metadata file or target name. */
  name: string;
  /** The most bytes accepted. */
  maxLength: number;
  /** Why that is the limit, completing "more than the N bytes ...", e.g. "the signed metadata allow". */
  allowedBy: string;
}

export interface DownloadContext {
  dispatcher: Dispatcher;
  limits: DownloadLimits;
  logger?: Logger;
  /** Aborts the download (the host API's cancel). */
  signal?: AbortSignal;
}

/** A download failed: after its retries, or at once for what retrying cannot fix. */
export class DownloadFailedError extends UserError {}

/** The server answered with an HTTP error status; `statusCode` lets the TUF root walk see 403/404. */
export class HttpStatusError extends DownloadFailedError {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

/** The server broke a limit no retry can fix (too long, an encoding not asked for, too many redirects). */
export class DownloadRefusedError extends DownloadFailedError {}

/** The download was cancelled on request. */
export class DownloadCancelledError extends DownloadFailedError {}

/** The server answered a range request with the whole file (200): it does not do ranges; fetch the file whole instead. */
export class RangeNotSupportedError extends DownloadRefusedError {}

/** The server answered a range request with another range than the one asked for. */
export class RangeMismatchError extends DownloadRefusedError {}

/** A failure worth another attempt (5xx, connection failure or reset, timeout). */
class RetryableFailure extends Error {}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Streams the file's bytes (never more than spec.maxLength); throws a DownloadFailedError. */
export function boundedDownload(spec: DownloadSpec, ctx: DownloadContext): AsyncGenerator<Buffer, void, undefined> {
  return withRetries(spec, ctx, (delivered) => downloadAttempt(spec, ctx, { start: delivered }));
}

/**
 * Streams bytes `start` to `endExclusive` of the file (spec.maxLength is the file's length), with
 * the deadlines and retries of boundedDownload; a retry after part of the range arrived asks for
 * the rest of it. The answer must be a 206 for exactly the range asked, of a file of that length
 * (`Content-Range: bytes a-b/<spec.maxLength>`, or `/*`): a 200 is a
 * RangeNotSupportedError (the caller can stream the whole file instead), another range a
 * RangeMismatchError, a byte past the range cancels the download, and a short body is retried.
 */
export function downloadRange(spec: DownloadSpec, ctx: DownloadContext, start: number, endExclusive: number): AsyncGenerator<Buffer, void, undefined> {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(endExclusive) && start >= 0 && start < endExclusive && endExclusive <= spec.maxLength)) {
    throw new RangeError(`${spec.name}: range ${start}..${endExclusive} is not inside its ${spec.maxLength} bytes`);
  }
  return withRetries(spec, ctx, (delivered) => downloadAttempt(spec, ctx, { start: start + delivered, end: endExclusive }));
}

/** Runs attempts until one ends normally; `attempt(delivered)` continues after the bytes already yielded. */
async function* withRetries(
  spec: DownloadSpec,
  ctx: DownloadContext,
  attempt: (delivered: number) => AsyncGenerator<Buffer, void, undefined>,
): AsyncGenerator<Buffer, void, undefined> {
  let delivered = 0;
  for (let retry = 0; ; retry++) {
    try {
      for await (const chunk of attempt(delivered)) {
        delivered += chunk.length;
        yield chunk;
      }
      return;
    } catch (err) {
      if (!(err instanceof RetryableFailure)) throw err;
      if (retry >= ctx.limits.retries) {
        throw new DownloadFailedError(`${err.message} (${retry + 1} attempt${retry === 0 ? '' : 's'})`, { cause: err });
      }
      const delayMs = backoffMs(ctx.limits, retry);
      ctx.logger?.warn({ url: spec.url, attempt: retry + 1, delayMs, err: err.message }, 'download failed, retrying');
      await sleep(delayMs, undefined, ctx.signal ? { signal: ctx.signal } : {}).catch(() => {
        throw cancelled(spec);
      });
    }
  }
}

/** The whole file in memory: only for small files (metadata, the manifest). */
export async function downloadBytes(spec: DownloadSpec, ctx: DownloadContext): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of boundedDownload(spec, ctx)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function cancelled(spec: DownloadSpec): DownloadCancelledError {
  return new DownloadCancelledError(`GET ${spec.url}: download of ${spec.name} cancelled`);
}

/**
 * What one attempt asks for: the file from `start` on (a server may answer with the whole file,
 * of which the first `start` bytes are skipped), or exactly bytes `start` to `end` (exclusive).
 */
interface AttemptRange {
  start: number;
  end?: number;
}

/** The longest delay a Node timer keeps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One attempt. */
async function* downloadAttempt(spec: DownloadSpec, ctx: DownloadContext, range: AttemptRange): AsyncGenerator<Buffer, void, undefined> {
  const { limits } = ctx;
  const { start, end } = range;
  const abort = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([abort.signal, ctx.signal]) : abort.signal;
  let timedOut: string | undefined;
  // Node fires a timer of more than 2^31 - 1 ms at once: a slow minimum rate on a large file
  // (1 byte/s for 3 MB) would time out before the first byte. 24.8 days is no deadline anyway.
  const deadline = (ms: number, what: string, firesInMs = ms): NodeJS.Timeout =>
    setTimeout(
      () => {
        timedOut = `${what} within ${ms} ms`;
        abort.abort();
      },
      Math.min(firesInMs, MAX_TIMER_MS),
    );
  /** Any error inside the attempt, as what the caller should do about it. */
  const classify = (err: unknown, url: string): Error => {
    if (err instanceof DownloadFailedError || err instanceof RetryableFailure) return err;
    if (ctx.signal?.aborted) return cancelled(spec);
    if (timedOut !== undefined) return new RetryableFailure(`GET ${url}: ${spec.name}: ${timedOut}`);
    if ((err as { code?: unknown }).code === 'UND_ERR_BODY_TIMEOUT') {
      return new RetryableFailure(`GET ${url}: ${spec.name}: the server sent nothing for ${limits.requestTimeoutMs} ms`);
    }
    return new RetryableFailure(`GET ${url}: ${spec.name}: ${reason(err)}`);
  };

  const asked = end === undefined ? undefined : `bytes=${start}-${end - 1}`;
  const rangeHeader = asked ?? (start > 0 ? `bytes=${start}-` : undefined);
  const remaining = (end ?? spec.maxLength) - start;
  let url = spec.url;
  let timer = deadline(limits.requestTimeoutMs, 'no complete response headers');
  let response: Dispatcher.ResponseData;
  try {
    for (let redirects = 0; ; redirects++) {
      response = await request(ctx.dispatcher, url, {
        method: 'GET',
        signal,
        headers: { 'accept-encoding': 'identity', ...(rangeHeader === undefined ? {} : { range: rangeHeader }) },
      });
      if (!REDIRECTS.has(response.statusCode)) break;
      destroy(response.body);
      const location = header(response, 'location');
      const next = location === undefined ? undefined : URL.parse(location, url);
      if (next === null || next === undefined || !/^https?:$/.test(next.protocol)) {
        throw new DownloadRefusedError(`GET ${url}: ${spec.name}: HTTP ${response.statusCode} redirect without a usable http(s) Location`);
      }
      if (redirects >= limits.maxRedirects) {
        throw new DownloadRefusedError(`GET ${spec.url}: ${spec.name}: more than ${limits.maxRedirects} redirects`);
      }
      url = next.toString();
    }
  } catch (err) {
    clearTimeout(timer);
    throw classify(err, url);
  }
  clearTimeout(timer);
  const body = response.body;
  let skip = 0;
  try {
    const status = response.statusCode;
    const contentRange = header(response, 'content-range');
    if (status >= 500) throw new RetryableFailure(`GET ${url}: HTTP ${status}`);
    if (status === 206 && asked !== undefined) {
      if (contentRange !== `bytes ${start}-${end! - 1}/${spec.maxLength}` && contentRange !== `bytes ${start}-${end! - 1}/*`) {
        throw new RangeMismatchError(`GET ${url}: ${spec.name}: asked for ${asked}, the server answered with Content-Range ${contentRange ?? 'missing'}`);
      }
    } else if (status === 206 && start > 0) {
      if (!new RegExp(`^bytes ${start}-`).test(contentRange ?? '')) {
        throw new RetryableFailure(`GET ${url}: ${spec.name}: the server resumed at the wrong place (Content-Range ${contentRange ?? 'missing'})`);
      }
    } else if (status === 200 && asked !== undefined) {
      throw new RangeNotSupportedError(`GET ${url}: ${spec.name}: asked for ${asked}, the server sent the whole file (HTTP 200): it does not serve byte ranges`);
    } else if (status === 200) {
      skip = start; // the server ignored the Range: drop what was delivered already
    } else {
      throw new HttpStatusError(`GET ${url}: HTTP ${status}`, status);
    }
    const encoding = header(response, 'content-encoding');
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      throw new DownloadRefusedError(`GET ${url}: ${spec.name}: the server sent it with Content-Encoding "${encoding}", which updog did not ask for`);
    }
    const overLong = (): DownloadRefusedError =>
      new DownloadRefusedError(
        asked === undefined
          ? `GET ${url}: ${spec.name}: the server sent more than the ${spec.maxLength} bytes ${spec.allowedBy}; download cancelled`
          : `GET ${url}: ${spec.name}: the server sent more than the ${remaining} bytes of ${asked}; download cancelled`,
      );
    const announced = Number(header(response, 'content-length') ?? Number.NaN);
    if (announced - skip > remaining) throw overLong();

    // The body deadline stops while the bandwidth cap holds the body back: that time is updog's, not the server's.
    const bodyMs = attemptDeadlineMs(limits, remaining);
    const bodyWhat = `${spec.name} (${remaining} bytes at most) not received`;
    let bodyLeftMs = bodyMs;
    let armedAt = performance.now();
    timer = deadline(bodyMs, bodyWhat);
    const bandwidth = limits.maxBytesPerSecond === undefined ? undefined : processBandwidth(limits.maxBytesPerSecond);
    let received = 0;
    for await (const data of body) {
      let chunk = data as Buffer;
      if (bandwidth !== undefined) {
        clearTimeout(timer);
        bodyLeftMs -= performance.now() - armedAt;
        if (bodyLeftMs <= 0) throw new RetryableFailure(`GET ${url}: ${spec.name}: ${bodyWhat} within ${bodyMs} ms`);
        await bandwidth.take(chunk.length, signal);
        armedAt = performance.now();
        timer = deadline(bodyMs, bodyWhat, bodyLeftMs);
      }
      if (skip > 0) {
        const dropped = Math.min(skip, chunk.length);
        skip -= dropped;
        chunk = chunk.subarray(dropped);
        if (chunk.length === 0) continue;
      }
      received += chunk.length;
      if (received > remaining) throw overLong();
      yield chunk;
    }
    if (asked !== undefined && received < remaining) {
      throw new RetryableFailure(`GET ${url}: ${spec.name}: the answer to ${asked} ended after ${received} of its ${remaining} bytes`);
    }
  } catch (err) {
    throw classify(err, url);
  } finally {
    clearTimeout(timer);
    destroy(body);
  }
}
/** Drops the connection unless the body was read to its end (then it can be reused). */
function destroy(body: Dispatcher.ResponseData['body']): void {
  if (!body.destroyed) body.destroy();
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** undici wraps the useful reason (ECONNREFUSED, reset, ...) in `cause`. */
function reason(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : (err as Error).message;
}
