/**
 * Streams a TUF target over HTTP and checks it against its signed length and sha256 on the fly:
 * never more bytes than signed, and the hash compared once the stream ends. Nothing is buffered
 * beyond the chunk in flight, so a multi-GB image needs no temp file.
 */
import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { UserError } from '../common/errors.js';

/** What the signed targets metadata says about a target. */
export interface ExpectedTarget {
  name: string;
  length: number;
  sha256: string;
}

/** The downloaded bytes are not the signed ones (length or hash), or the download failed. */
export class DownloadVerificationError extends UserError {}

/**
 * Passes `source` through, refusing more than `expected.length` bytes, and at the end of the
 * stream checks the length and sha256. `onBytes` sees every chunk's size (for progress).
 */
export async function* verifyTargetBytes(
  source: AsyncIterable<Uint8Array>,
  expected: ExpectedTarget,
  onBytes?: (n: number) => void,
): AsyncGenerator<Buffer, void, undefined> {
  const hash = createHash('sha256');
  let received = 0;
  for await (const chunk of source) {
    received += chunk.length;
    if (received > expected.length) {
      throw new DownloadVerificationError(
        `${expected.name}: the server sent more than the ${expected.length} bytes the signed metadata allow; the repository or a proxy is serving a different file`,
      );
    }
    hash.update(chunk);
    onBytes?.(chunk.length);
    yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  }
  if (received < expected.length) {
    throw new DownloadVerificationError(`${expected.name}: download truncated: got ${received} of ${expected.length} bytes`);
  }
  const actual = hash.digest('hex');
  if (actual !== expected.sha256.toLowerCase()) {
    throw new DownloadVerificationError(
      `${expected.name}: sha256 mismatch: the signed metadata say ${expected.sha256}, the ${received} bytes downloaded hash to ${actual}`,
    );
  }
}

/** An open HTTP response body; `close` releases the connection whether or not it was read to the end. */
export interface HttpBody {
  body: AsyncIterable<Uint8Array>;
  close(): void;
}

/**
 * GETs `url` through `dispatcher` (whose body timeout is an idle timeout: a slow but moving
 * download is never cut off). Any status but 200 is an error naming the URL.
 */
export async function openHttpBody(url: string, dispatcher: Dispatcher): Promise<HttpBody> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { dispatcher, method: 'GET' });
  } catch (err) {
    throw new DownloadVerificationError(`GET ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (response.statusCode !== 200) {
    await response.body.dump().catch(() => undefined);
    throw new DownloadVerificationError(`GET ${url}: HTTP ${response.statusCode}`);
  }
  const body = response.body;
  return {
    body: (async function* () {
      try {
        for await (const chunk of body) yield chunk as Buffer;
      } catch (err) {
        throw new DownloadVerificationError(`GET ${url}: download interrupted: ${(err as Error).message}`, { cause: err });
      }
    })(),
    close: () => {
      if (!body.destroyed) body.destroy();
    },
  };
}
