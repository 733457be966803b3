/**
 * One image, end to end: HTTP body -> signed length cap + sha256 over the compressed bytes ->
 * LZ4 frame decode -> positioned writes into the partition -> fsync. The caller marks the set
 * valid only after this returns: it returns only once the whole download matched its signed hash.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { decodeLz4Frames, Lz4FrameError } from './lz4-frame.js';
import { PartitionWriter, type PartitionExtent } from './partition-writer.js';
import type { ProgressListener } from './progress.js';
import { youngGarbageCollector } from './young-gc.js';
import { DownloadVerificationError, openHttpBody, verifyTargetBytes, type ExpectedTarget } from './verified-download.js';

export interface ImageSource extends ExpectedTarget {
  url: string;
}

export interface InstallImageOptions {
  /** Which image of the set (`root`, `boot`, `hash`), for progress and messages. */
  image: string;
  source: ImageSource;
  dispatcher: Dispatcher;
  /** The disk, open read-write; shared by the images of one update. */
  disk: FileHandle;
  partition: PartitionExtent;
  onProgress?: ProgressListener;
  /** Called after each block is handed to the disk, with the image bytes written so far. */
  onBlockWritten?: (bytesWritten: number) => void;
}

export interface InstalledImage {
  /** Compressed bytes downloaded (= the signed length). */
  downloadedBytes: number;
  /** Decompressed bytes written into the partition. */
  writtenBytes: number;
}

export async function installImage(o: InstallImageOptions): Promise<InstalledImage> {
  const started = performance.now();
  let downloaded = 0;
  const progress = (): void =>
    o.onProgress?.({ image: o.image, downloaded, total: o.source.length, elapsedMs: performance.now() - started });
  const http = await openHttpBody(o.source.url, o.dispatcher);
  const releaseChunks = youngGarbageCollector();
  const verified = verifyTargetBytes(http.body, o.source, (n) => {
    downloaded += n;
    releaseChunks(n);
    progress();
  });
  const writer = new PartitionWriter(o.disk, o.partition);
  try {
    try {
      for await (const block of decodeLz4Frames(verified)) {
        await writer.write(block);
        o.onBlockWritten?.(writer.bytesWritten);
      }
    } catch (err) {
      await writer.settle();
      // A download that is not the signed file explains a decode error better than the decoder
      // can: read the rest (still capped at the signed length) and report the hash mismatch.
      if (!(err instanceof Lz4FrameError)) throw err;
      await drain(verified).catch((downloadErr: unknown) => {
        throw downloadErr instanceof DownloadVerificationError ? new DownloadVerificationError(downloadErr.message, { cause: err }) : downloadErr;
      });
      throw new Lz4FrameError(`${o.source.name}: ${err.message}`, { cause: err });
    }
    const writtenBytes = await writer.finish();
    return { downloadedBytes: downloaded, writtenBytes };
  } finally {
    http.close();
  }
}

async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of source) {
    // reading to the end runs the length and hash checks
  }
}
