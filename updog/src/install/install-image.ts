/**
 * One image, end to end: HTTP body -> signed length cap + sha256 over the compressed bytes ->
 * LZ4 frame decode -> positioned writes into the partition -> fsync. The decode half runs
 * beside the download (decode-stage.ts). The caller marks the set valid only after this
 * returns: it returns only once the whole download matched its signed hash and the decoder
 * has written and synced every byte.
 */
import type { FileHandle } from 'node:fs/promises';
import type { DownloadContext } from '../net/bounded-download.js';
import { startDecodeStage } from './decode-stage.js';
import { Lz4FrameError } from './lz4-frame.js';
import type { PartitionExtent } from './partition-writer.js';
import type { ProgressListener } from './progress.js';
import { youngGarbageCollector } from './young-gc.js';
import { DownloadVerificationError, downloadTarget, verifyTargetBytes, type ExpectedTarget } from './verified-download.js';
import { keepWebAssemblyUnoptimized } from '../common/wasm-tiering.js';

// At load, before any HTTP request creates undici's llhttp module (see wasm-tiering.ts).
keepWebAssemblyUnoptimized();

export interface ImageSource extends ExpectedTarget {
  url: string;
}

export interface InstallImageOptions {
  /** Which image of the set (`root`, `boot`, `hash`), for progress and messages. */
  image: string;
  source: ImageSource;
  download: DownloadContext;
  /** The disk, open read-write; shared by the images of one update. */
  disk: FileHandle;
  partition: PartitionExtent;
  onProgress?: ProgressListener;
  /** Called after each block is handed to the disk, with the image bytes written so far. */
  onBlockWritten?: (bytesWritten: number) => void;
}

export interface InstalledImage {
  /** `stream`: the whole image downloaded; `blocks`: installed block by block from its block index. */
  method: 'stream' | 'blocks';
  /** Compressed bytes downloaded (the signed length for a stream install). */
  downloadedBytes: number;
  /** Decoded bytes taken from the host instead of downloaded (0 for a stream install). */
  reusedBytes: number;
  /** Decompressed bytes in the partition. */
  writtenBytes: number;
}

export async function installImage(o: InstallImageOptions): Promise<InstalledImage> {
  const started = performance.now();
  let downloaded = 0;
  const progress = (): void =>
    o.onProgress?.({ image: o.image, downloaded, total: o.source.length, elapsedMs: performance.now() - started });
  const releaseChunks = youngGarbageCollector();
  // the download ends (its connection closed) when this loop leaves `verified`, however it leaves
  const verified = verifyTargetBytes(downloadTarget(o.source, o.download), o.source, (n) => {
    downloaded += n;
    releaseChunks(n);
    progress();
  });
  // Started only once the response is there, not beside the request: its WebAssembly compile
  // allows optimization process-wide for a moment (wasm-tiering.ts), and an llhttp module the
  // request created in that moment would be optimized too (the memory peak wasm-tiering.ts avoids).
  const decoder = startDecodeStage({ compressedLength: o.source.length, disk: o.disk, partition: o.partition, ...(o.onBlockWritten === undefined ? {} : { onBlockWritten: o.onBlockWritten }) });
  try {
    for await (const chunk of verified) {
      await decoder.push(chunk);
      // After a decode error, read on (still capped at the signed length): a download that is
      // not the signed file explains a decode error better than the decoder can.
      if (decoder.failure !== undefined && !(decoder.failure instanceof Lz4FrameError)) break;
    }
  } catch (downloadErr) {
    decoder.abort(downloadErr as Error);
    const decodeErr = await decoder.result.then(
      () => undefined,
      (err: unknown) => err,
    );
    if (decodeErr instanceof Lz4FrameError && downloadErr instanceof DownloadVerificationError) {
      throw new DownloadVerificationError(downloadErr.message, { cause: decodeErr });
    }
    throw downloadErr;
  }
  decoder.end();
  const writtenBytes = await decoder.result.catch((err: unknown) => {
    throw err instanceof Lz4FrameError ? new Lz4FrameError(`${o.source.name}: ${err.message}`, { cause: err }) : err;
  });
  return { method: 'stream', downloadedBytes: downloaded, reusedBytes: 0, writtenBytes };
}
