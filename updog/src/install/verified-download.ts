/**
 * Streams a TUF target over HTTP and checks it against its signed length and sha256 on the fly:
 * never more bytes than signed, and the hash compared once the stream ends. Nothing is buffered
 * beyond the chunk in flight, so a multi-GB image needs no temp file.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../common/errors.js';
import { boundedDownload, type DownloadContext, type DownloadSpec } from '../net/bounded-download.js';

/** What the signed targets metadata says about a target. */
export interface ExpectedTarget {
  name: string;
  length: number;
  sha256: string;
}

/** The downloaded bytes are not the signed ones (length or hash). */
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

/** How to download a target: never more than its signed length. */
export function targetDownloadSpec(source: ExpectedTarget & { url: string }): DownloadSpec {
  return { url: source.url, name: source.name, maxLength: source.length, allowedBy: 'the signed metadata allow' };
}

/** The target's bytes from the repository, bounded by its signed length and the download limits. */
export function downloadTarget(source: ExpectedTarget & { url: string }, ctx: DownloadContext): AsyncGenerator<Buffer, void, undefined> {
  return boundedDownload(targetDownloadSpec(source), ctx);
}
