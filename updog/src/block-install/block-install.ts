/**
 * Installs an image from its block index instead of streaming it whole. Each block comes from
 * the cheapest source that has it: already in place on the inactive partition (an interrupted
 * install resumes without a journal: the bytes themselves are checked), assembled from pieces of
 * the active partition, or fetched by HTTP range. Every block written is checked against the
 * signed index first, so when this returns every byte of the image is in place and verified.
 *
 * When the block install cannot be used (no usable index, a server without range requests, a
 * fetched block that does not match the index, or nearly everything to fetch anyway) it throws
 * BlockInstallUnavailable before or instead of finishing, and the caller streams the whole image.
 */
import type { FileHandle } from 'node:fs/promises';
import { decodeBlockIndex, BlockIndexError, type BlockIndex } from '../block-index/format.js';
import type { Logger } from '../common/log.js';
import { DownloadCancelledError, downloadRange, HttpStatusError, RangeMismatchError, RangeNotSupportedError, type DownloadContext } from '../net/bounded-download.js';
import { Lz4BlockDecoder } from '../install/lz4-block.js';
import { PartitionOverflowError, type PartitionExtent } from '../install/partition-writer.js';
import { releaseGarbage, youngGarbageCollector } from '../install/young-gc.js';
import type { ProgressListener } from '../install/progress.js';
import { DownloadVerificationError, downloadTarget, targetDownloadSpec, verifyTargetBytes, type ExpectedTarget } from '../install/verified-download.js';
import { BatchedWriter } from './batched-writer.js';
import { BlockVerificationError, decodeFetchedBlock, splitRange } from './fetched-block.js';
import { findPresentBlocks, readExactly, scanHashers, scanPieces, sha256, withReadAhead } from './local-blocks.js';
import { hashWords, PieceTable } from './piece-table.js';
import { FETCH, fetchRanges, LOCAL, localReads, planBlocks, type BlockPlan, type BlockSource, type FetchRange } from './plan.js';

/** Why the block install is not used for this image; the caller streams the image instead. */
export class BlockInstallUnavailable extends Error {}

/** Above this share of the image to fetch, one stream is cheaper than many ranges plus the local reads. */
export const STREAM_ABOVE_FETCH_SHARE = 0.9;
/** Ranges in flight at once, and the most bytes one range asks for. */
const FETCH_LANES = 4;
const MAX_RANGE_BYTES = 8 * 1024 * 1024;
/** Verified blocks that follow each other are written together, up to this many bytes. */
const WRITE_BATCH_BYTES = 1024 * 1024;

export interface BlockInstallOptions {
  image: string;
  source: ExpectedTarget & { url: string };
  /** The image's block index target. */
  index: ExpectedTarget & { url: string };
  download: DownloadContext;
  disk: FileHandle;
  /** Where the image goes (inactive set) and where its previous version is (active set). */
  partition: PartitionExtent;
  active: PartitionExtent;
  logger: Logger;
  onProgress?: ProgressListener;
  onBlockWritten?: (bytesWritten: number) => void;
  /** After each block is handed to the disk: the decoded bytes written so far by source. */
  onBlockStored?: (stored: StoredBytes) => void;
}

export interface StoredBytes {
  /** Assembled from the active partition. */
  local: number;
  /** Fetched and decoded. */
  fetched: number;
}

export interface BlockInstallResult {
  method: 'blocks';
  downloadedBytes: number;
  reusedBytes: number;
  writtenBytes: number;
}

export async function installFromBlocks(o: BlockInstallOptions): Promise<BlockInstallResult> {
  const started = performance.now();
  const index = await loadIndex(o);
  if (index.decodedLength > o.partition.size) {
    throw new PartitionOverflowError(`${o.source.name} decodes to ${index.decodedLength} bytes, more than the ${o.partition.size}-byte partition ${o.partition.label}`);
  }
  const plan = await planFromHost(o, index);
  o.logger.info(
    {
      image: o.image,
      blocks: index.blocks.length,
      presentBytes: plan.presentBytes,
      localBytes: plan.localBytes,
      fetchBytes: plan.fetchBytes,
      imageBytes: index.imageLength,
      planMs: Math.round(performance.now() - started),
    },
    'block install planned',
  );
  if (plan.fetchBytes > STREAM_ABOVE_FETCH_SHARE * index.imageLength) {
    throw new BlockInstallUnavailable(`${Math.round((100 * plan.fetchBytes) / index.imageLength)} % of ${o.source.name} must be fetched, so it is streamed whole`);
  }
  releaseGarbage(); // the index as downloaded and the scans' garbage, before the copy and the fetch allocate

  const counters = { downloaded: 0, reused: plan.presentBytes, written: plan.presentBytes, newlyWritten: 0 };
  const stored: StoredBytes = { local: 0, fetched: 0 };
  const progress = (): void =>
    o.onProgress?.({
      image: o.image,
      downloaded: counters.downloaded,
      total: index.imageLength,
      reused: counters.reused,
      written: counters.written,
      decodedTotal: index.decodedLength,
      elapsedMs: performance.now() - started,
    });
  const writer = (source: keyof StoredBytes): BatchedWriter =>
    new BatchedWriter(o.disk, o.partition.offset, WRITE_BATCH_BYTES, (bytes) => {
      counters.written += bytes;
      counters.newlyWritten += bytes;
      stored[source] += bytes;
      if (source === 'local') counters.reused += bytes;
      o.onBlockWritten?.(counters.newlyWritten);
      o.onBlockStored?.(stored);
      progress();
    });

  // fetched bytes arrive in fresh buffers, as in a stream install (young-gc.ts)
  const releaseChunks = youngGarbageCollector();
  const stop = new AbortController();
  const signal = o.download.signal === undefined ? stop.signal : AbortSignal.any([o.download.signal, stop.signal]);
  const download: DownloadContext = { ...o.download, signal };
  const throwIfCancelled = (): void => {
    if (o.download.signal?.aborted === true) throw new DownloadCancelledError(`install of ${o.source.name} cancelled`);
    if (stop.signal.aborted) throw new Stopped();
  };

  const toFetch = blocksFrom(plan, FETCH);
  const notLocalAfterAll: number[] = [];
  const copyLocal = async (): Promise<void> => {
    const out = writer('local');
    const size = Math.max(WRITE_BATCH_BYTES, index.blockSize);
    const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
    const batches = [...localBatches(plan, index, size)];
    // a batch's pieces are disjoint parts of its buffer: read in parallel on the thread pool
    const read = async (k: number, into: Buffer): Promise<void> => {
      const blocks = batches[k]!;
      const pieces = plan.piecePositions.subarray(index.pieceStart[blocks[0]!], index.pieceStart[blocks.at(-1)! + 1]);
      const length = blocks.reduce((n, i) => n + index.blocks[i]!.decodedLength, 0);
      into.fill(0, 0, length);
      await Promise.all(localReads(pieces, index.pieceSize, length).map((r) => readExactly(o.disk, into.subarray(r.to), r.length, o.active.offset + r.from)));
    };
    await withReadAhead(batches.length, buffers, read, async (k, batch) => {
      throwIfCancelled();
      const blocks = batches[k]!;
      const first = index.blocks[blocks[0]!]!.decodedOffset;
      for (const i of blocks) {
        const block = index.blocks[i]!;
        const bytes = batch.subarray(block.decodedOffset - first, block.decodedOffset - first + block.decodedLength);
        // piece hashes are hints: only the block's sha256 says the assembled bytes are the right ones
        if (sha256(bytes).equals(block.decodedSha256)) await out.add(block.decodedOffset, bytes);
        else notLocalAfterAll.push(i);
      }
    });
    await out.flush();
  };
  const fetchAll = (ranges: FetchRange[]): Promise<void> =>
    allOrStop(
      Array.from({ length: Math.min(FETCH_LANES, ranges.length) }, async () => {
        const decoder = new Lz4BlockDecoder(decoderSize(index), 1);
        const out = writer('fetched');
        for (let range = ranges.shift(); range !== undefined; range = ranges.shift()) {
          throwIfCancelled();
          const body = countBytes(downloadRange(targetDownloadSpec(o.source), download, range.start, range.end), (n) => {
            counters.downloaded += n;
            releaseChunks(n);
            progress();
          });
          try {
            for await (const { block, compressed } of splitRange(range, index.blocks, body, o.source.name)) {
              await out.add(index.blocks[block]!.decodedOffset, decodeFetchedBlock(decoder, block, index.blocks[block]!, compressed, o.source.name));
            }
          } catch (err) {
            // a download cut short by `stop` is not this lane's failure
            if (stop.signal.aborted && o.download.signal?.aborted !== true) throw new Stopped();
            throw err;
          }
          await out.flush();
        }
      }),
      stop,
    );

  try {
    await allOrStop([copyLocal(), fetchAll(fetchRanges(index.blocks, toFetch, MAX_RANGE_BYTES))], stop);
    if (notLocalAfterAll.length > 0) {
      o.logger.warn({ image: o.image, blocks: notLocalAfterAll.length }, 'blocks assembled from the host did not match the index; fetching them');
      await fetchAll(fetchRanges(index.blocks, notLocalAfterAll, MAX_RANGE_BYTES));
    }
  } catch (err) {
    throw asUnavailable(err) ?? err;
  }
  progress();
  return { method: 'blocks', downloadedBytes: counters.downloaded, reusedBytes: counters.reused, writtenBytes: index.decodedLength };
}

/** Downloads the index (bounded by its signed length) and checks it against its signed hash and its image. */
async function loadIndex(o: BlockInstallOptions): Promise<BlockIndex> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of verifyTargetBytes(downloadTarget(o.index, o.download), o.index)) chunks.push(chunk);
  } catch (err) {
    if (err instanceof DownloadCancelledError) throw err;
    if (err instanceof DownloadVerificationError) {
      throw new BlockInstallUnavailable(`its block index ${o.index.name} does not match the signed metadata (${err.message})`, { cause: err });
    }
    throw new BlockInstallUnavailable(`its block index could not be downloaded: ${(err as Error).message}`, { cause: err });
  }
  const bytes = Buffer.concat(chunks);
  try {
    return decodeBlockIndex(bytes, o.source);
  } catch (err) {
    if (err instanceof BlockIndexError) throw new BlockInstallUnavailable(err.message, { cause: err });
    throw err;
  }
}

/** Finds what the host has: blocks in place on the inactive partition, pieces on the active one. */
async function planFromHost(o: BlockInstallOptions, index: BlockIndex): Promise<BlockPlan> {
  const hashers = scanHashers(index);
  const present = await findPresentBlocks(o.disk, o.partition.offset, index, hashers);
  const missing = index.blocks.flatMap((_, i) => (present[i] === true ? [] : [i]));
  const table = new PieceTable(missing.reduce((n, i) => n + index.pieceStart[i + 1]! - index.pieceStart[i]!, 0));
  const words = hashWords(index.pieceHashes);
  for (const i of missing) {
    for (let p = index.pieceStart[i]!; p < index.pieceStart[i + 1]!; p++) table.want(words, p);
  }
  if (missing.length > 0) await scanPieces(o.disk, o.active, index.pieceSize, table, hashers);
  return planBlocks(index, present, table, hashers[0].hash(Buffer.alloc(index.pieceSize)));
}

function blocksFrom(plan: BlockPlan, source: BlockSource): number[] {
  const blocks: number[] = [];
  plan.sources.forEach((s, i) => {
    if (s === source) blocks.push(i);
  });
  return blocks;
}

/** Neighbouring local blocks, in order, in groups of at most `maxBytes` decoded bytes (at least one block). */
function* localBatches(plan: BlockPlan, index: BlockIndex, maxBytes: number): Generator<number[]> {
  let batch: number[] = [];
  let bytes = 0;
  for (const [i, source] of plan.sources.entries()) {
    const length = index.blocks[i]!.decodedLength;
    const follows = batch.length > 0 && batch.at(-1) === i - 1 && bytes + length <= maxBytes;
    if (batch.length > 0 && (source !== LOCAL || !follows)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    if (source !== LOCAL) continue;
    batch.push(i);
    bytes += length;
  }
  if (batch.length > 0) yield batch;
}

/** Big enough for any block's decoded bytes and any block's compressed payload. */
function decoderSize(index: BlockIndex): number {
  return index.blocks.reduce((max, b) => Math.max(max, b.compressedLength), index.blockSize);
}

async function* countBytes(source: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer, void, undefined> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/** A task ended because another one failed (that failure is the one to report). */
class Stopped extends Error {}

/**
 * Runs the tasks together; the first failure stops the others (through `stop`) and is thrown once
 * all have ended. A task that ended only because it was stopped never hides the failure that stopped it.
 */
async function allOrStop(tasks: Promise<void>[], stop: AbortController): Promise<void> {
  let first: unknown;
  await Promise.all(
    tasks.map((t) =>
      t.catch((err: unknown) => {
        if (first === undefined || (first instanceof Stopped && !(err instanceof Stopped))) first = err;
        stop.abort();
      }),
    ),
  );
  if (first !== undefined) throw first;
}

/** The failures after which streaming the whole image can still succeed. */
function asUnavailable(err: unknown): BlockInstallUnavailable | undefined {
  if (err instanceof RangeNotSupportedError) return new BlockInstallUnavailable(`the server does not answer range requests (${err.message})`, { cause: err });
  if (err instanceof RangeMismatchError || err instanceof BlockVerificationError) return new BlockInstallUnavailable(err.message, { cause: err });
  if (err instanceof HttpStatusError && err.statusCode >= 400 && err.statusCode < 500) {
    return new BlockInstallUnavailable(`a range request failed (${err.message})`, { cause: err });
  }
  return undefined;
}
