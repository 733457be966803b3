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
import { openBlockIndex, BlockIndexError, type BlockIndexView } from '../block-index/format.js';
import type { PieceHasher } from '../block-index/piece-hash.js';
import type { Logger } from '../common/log.js';
import { DownloadCancelledError, downloadRange, HttpStatusError, RangeMismatchError, RangeNotSupportedError, type DownloadContext } from '../net/bounded-download.js';
import { Lz4BlockDecoder } from '../install/lz4-block.js';
import { PartitionOverflowError, type PartitionExtent } from '../install/partition-writer.js';
import { releaseGarbage, youngGarbageCollector } from '../install/young-gc.js';
import type { ProgressListener } from '../install/progress.js';
import { DownloadVerificationError, downloadTarget, targetDownloadSpec, verifyTargetBytes, type ExpectedTarget } from '../install/verified-download.js';
import { BatchedWriter } from './batched-writer.js';
import { BlockVerificationError, decodeFetchedBlock, splitRange } from './fetched-block.js';
import { findPresentBlocks, readExactly, scanHashers, scanPieces, sha256, withReadAhead, type SlotPair } from './local-blocks.js';
import { hashWords, PieceTable, type HashWords } from './piece-table.js';
import { FETCH, fetchRanges, LOCAL, localReads, locateBlocks, passEnd, piecePosition, PRESENT, wantPieces, type FetchRange } from './plan.js';

/** Why the block install is not used for this image; the caller streams the image instead. */
export class BlockInstallUnavailable extends Error {}

/** Above this share of the image to fetch, one stream is cheaper than many ranges plus the local reads. */
export const STREAM_ABOVE_FETCH_SHARE = 0.9;
/** Ranges in flight at once, and the most bytes one range asks for. */
const FETCH_LANES = 4;
const MAX_RANGE_BYTES = 8 * 1024 * 1024;
/** Blocks copied from the host are read and written in batches of neighbours of up to this many bytes. */
const COPY_BATCH_BYTES = 1024 * 1024;
/** Fetched blocks that follow each other are written together, up to this many bytes (per lane). */
const FETCH_WRITE_BYTES = 256 * 1024;
/**
 * Pieces one scan of the active partition looks for at most: 768 MiB of blocks to find, a table
 * of 4 MiB. An image with more not in place is planned and written in passes of that size, each
 * scanning the host again, so memory does not grow with the image.
 */
export const MAX_WANTED_PIECES = 196_608;
/** The largest block index read: that of a 16 GiB image of 64 KiB blocks is 54 MiB. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

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
  /** Pieces looked for per scan of the host (MAX_WANTED_PIECES; tests make passes with less). */
  maxWantedPieces?: number;
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
  const { index, sources, presentBytes, toWriteCompressed, hashers, zero } = await blocksInPlace(o);
  releaseGarbage(); // the whole index as downloaded, before the passes allocate
  /** The scan buffers, kept while another scan of the host may come. */
  let scanners: SlotPair<PieceHasher> | undefined = hashers;

  const counters = { downloaded: 0, reused: presentBytes, written: presentBytes, newlyWritten: 0 };
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
  const writer = (source: keyof StoredBytes, capacity: number): BatchedWriter =>
    new BatchedWriter(o.disk, o.partition.offset, capacity, (bytes) => {
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

  /** Copies the LOCAL blocks of [from, end) from where `table` saw their pieces; returns those whose bytes did not match after all. */
  const copyLocal = async (from: number, end: number, table: PieceTable): Promise<number[]> => {
    const notLocalAfterAll: number[] = [];
    const out = writer('local', 0); // writes verified runs straight from the batch buffer
    const size = Math.max(COPY_BATCH_BYTES, index.blockSize);
    const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
    const batches = [...localBatches(sources, index, from, end, size)];
    // a batch's pieces are disjoint parts of its buffer: read in parallel on the thread pool
    const read = async (k: number, into: Buffer): Promise<void> => {
      const blocks = batches[k]!;
      const positions = blocks.flatMap((i) => Array.from({ length: index.pieceEnd(i) - index.pieceStart(i) }, (_, q) => piecePosition(index, i, index.pieceStart(i) + q, table, zero)!));
      const length = blocks.reduce((n, i) => n + index.blockLength(i), 0);
      into.fill(0, 0, length);
      await Promise.all(localReads(positions, index.pieceSize, length).map((r) => readExactly(o.disk, into.subarray(r.to), r.length, o.active.offset + r.from)));
    };
    await withReadAhead(batches.length, buffers, read, async (k, batch) => {
      throwIfCancelled();
      const blocks = batches[k]!;
      const first = index.blockOffset(blocks[0]!);
      /** Verified blocks not yet written: [runStart, runEnd) of the batch. */
      let runStart = 0;
      let runEnd = 0;
      const writeRun = async (): Promise<void> => {
        if (runEnd > runStart) await out.add(first + runStart, batch.subarray(runStart, runEnd));
      };
      for (const i of blocks) {
        const at = index.blockOffset(i) - first;
        const bytes = batch.subarray(at, at + index.blockLength(i));
        // piece hashes are hints: only the block's sha256 says the assembled bytes are the right ones
        if (sha256(bytes).equals(index.blockSha256(i))) {
          runEnd = at + bytes.length;
        } else {
          await writeRun();
          runStart = runEnd = at + bytes.length;
          notLocalAfterAll.push(i);
        }
      }
      await writeRun();
    });
    return notLocalAfterAll;
  };
  const largestBlock = decoderSize(index, sources);
  const fetchAll = (ranges: FetchRange[]): Promise<void> =>
    allOrStop(
      Array.from({ length: Math.min(FETCH_LANES, ranges.length) }, async () => {
        const decoder = new Lz4BlockDecoder(largestBlock, 1);
        const scratch = Buffer.allocUnsafe(largestBlock);
        const out = writer('fetched', FETCH_WRITE_BYTES);
        for (let range = ranges.shift(); range !== undefined; range = ranges.shift()) {
          throwIfCancelled();
          const body = countBytes(downloadRange(targetDownloadSpec(o.source), download, range.start, range.end), (n) => {
            counters.downloaded += n;
            releaseChunks(n);
            progress();
          });
          try {
            for await (const { block, compressed } of splitRange(range, index, body, o.source.name, scratch)) {
              await out.add(index.blockOffset(block), decodeFetchedBlock(decoder, index, block, compressed, o.source.name));
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
    // Passes over the image, each with a bounded table of the pieces to find on the host: one
    // pass unless more than MAX_WANTED_PIECES pieces are not in place.
    for (let from = 0, pass = 1; from < index.blockCount; pass++) {
      throwIfCancelled();
      const planStarted = performance.now();
      const { end, pieces } = passEnd(index, sources, from, o.maxWantedPieces ?? MAX_WANTED_PIECES);
      const last = end === index.blockCount;
      let table: PieceTable | undefined = new PieceTable(pieces);
      wantPieces(index, sources, from, end, table);
      const todo = pieces > 0;
      if (todo) await scanPieces(o.disk, o.active, index.pieceSize, table, scanners!);
      if (last) scanners = undefined;
      const { localBytes, fetchBytes } = locateBlocks(index, sources, from, end, table, zero);
      o.logger.info(
        {
          image: o.image,
          ...(from === 0 && last ? {} : { pass, firstBlock: from, endBlock: end }),
          blocks: index.blockCount,
          presentBytes,
          localBytes,
          fetchBytes,
          imageBytes: index.imageLength,
          planMs: Math.round(performance.now() - (pass === 1 ? started : planStarted)),
        },
        'block install planned',
      );
      if (pass === 1) {
        // what the first pass fetches, scaled to all the blocks not in place (exact when it covers them all)
        const planned = compressedBytes(index, sources, from, end);
        const estimate = planned === 0 ? 0 : (fetchBytes * toWriteCompressed) / planned;
        if (estimate > STREAM_ABOVE_FETCH_SHARE * index.imageLength) {
          const share = `${last ? '' : 'about '}${Math.round((100 * estimate) / index.imageLength)} %`;
          throw new BlockInstallUnavailable(`${share} of ${o.source.name} must be fetched${last ? '' : ` (judged from its first ${end} of ${index.blockCount} blocks)`}, so it is streamed whole`);
        }
      }
      if (last && todo) releaseGarbage(); // the scan buffers and the scans' garbage, before the copy and the fetch allocate
      const toFetch = blocksFrom(sources, FETCH, from, end);
      let notLocalAfterAll: number[] = [];
      await allOrStop([todo ? copyLocal(from, end, table).then((blocks) => void (notLocalAfterAll = blocks)) : Promise.resolve(), fetchAll(fetchRanges(index, toFetch, MAX_RANGE_BYTES))], stop);
      table = undefined;
      if (notLocalAfterAll.length > 0) {
        o.logger.warn({ image: o.image, blocks: notLocalAfterAll.length }, 'blocks assembled from the host did not match the index; fetching them');
        await fetchAll(fetchRanges(index, notLocalAfterAll, MAX_RANGE_BYTES));
      }
      from = end;
      if (!last) releaseGarbage(); // this pass's table and buffers, before the next pass allocates its own
    }
  } catch (err) {
    throw asUnavailable(err) ?? err;
  }
  progress();
  return { method: 'blocks', downloadedBytes: counters.downloaded, reusedBytes: counters.reused, writtenBytes: index.decodedLength };
}

/**
 * Loads the index and finds the blocks already in place; returns a view of the index holding
 * only the others (an install asks for nothing else), so the whole index can be freed.
 */
async function blocksInPlace(
  o: BlockInstallOptions,
): Promise<{ index: BlockIndexView; sources: Uint8Array; presentBytes: number; toWriteCompressed: number; hashers: SlotPair<PieceHasher>; zero: HashWords }> {
  const whole = await loadIndex(o);
  if (whole.decodedLength > o.partition.size) {
    throw new PartitionOverflowError(`${o.source.name} decodes to ${whole.decodedLength} bytes, more than the ${o.partition.size}-byte partition ${o.partition.label}`);
  }
  const hashers = scanHashers(whole);
  const sources = await findPresentBlocks(o.disk, o.partition.offset, whole, hashers);
  const zero = hashWords(BigUint64Array.of(hashers[0].hash(Buffer.alloc(whole.pieceSize))));
  let presentBytes = 0;
  sources.forEach((s, i) => (presentBytes += s === PRESENT ? whole.blockLength(i) : 0));
  const index = whole.retain((i) => sources[i] !== PRESENT);
  return { index, sources, presentBytes, toWriteCompressed: compressedBytes(index, sources, 0, index.blockCount), hashers, zero };
}

/** Downloads the index (bounded by its signed length) and checks it against its signed hash and its image. */
async function loadIndex(o: BlockInstallOptions): Promise<BlockIndexView> {
  if (o.index.length > MAX_INDEX_BYTES) {
    throw new BlockInstallUnavailable(`its block index ${o.index.name} is ${o.index.length} bytes, more than the ${MAX_INDEX_BYTES} this updog reads`);
  }
  // filled in place: the verified download never exceeds the signed length
  const bytes = Buffer.allocUnsafe(o.index.length);
  let filled = 0;
  try {
    for await (const chunk of verifyTargetBytes(downloadTarget(o.index, o.download), o.index)) filled += chunk.copy(bytes, filled);
  } catch (err) {
    if (err instanceof DownloadCancelledError) throw err;
    if (err instanceof DownloadVerificationError) {
      throw new BlockInstallUnavailable(`its block index ${o.index.name} does not match the signed metadata (${err.message})`, { cause: err });
    }
    throw new BlockInstallUnavailable(`its block index could not be downloaded: ${(err as Error).message}`, { cause: err });
  }
  try {
    return openBlockIndex(bytes.subarray(0, filled), o.source);
  } catch (err) {
    if (err instanceof BlockIndexError) throw new BlockInstallUnavailable(err.message, { cause: err });
    throw err;
  }
}

/** The compressed bytes of the blocks of [from, end) not in place. */
function compressedBytes(index: BlockIndexView, sources: Uint8Array, from: number, end: number): number {
  let bytes = 0;
  for (let i = from; i < end; i++) if (sources[i] !== PRESENT) bytes += index.compressedLength(i);
  return bytes;
}

/** The blocks of [from, end) that come from `source`. */
function blocksFrom(sources: Uint8Array, source: number, from: number, end: number): number[] {
  const blocks: number[] = [];
  for (let i = from; i < end; i++) if (sources[i] === source) blocks.push(i);
  return blocks;
}

/** Neighbouring local blocks of [from, end), in order, in groups of at most `maxBytes` decoded bytes (at least one block). */
function* localBatches(sources: Uint8Array, index: BlockIndexView, from: number, end: number, maxBytes: number): Generator<number[]> {
  let batch: number[] = [];
  let bytes = 0;
  for (let i = from; i < end; i++) {
    const length = sources[i] === LOCAL ? index.blockLength(i) : 0;
    const follows = batch.length > 0 && batch.at(-1) === i - 1 && bytes + length <= maxBytes;
    if (batch.length > 0 && (sources[i] !== LOCAL || !follows)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    if (sources[i] !== LOCAL) continue;
    batch.push(i);
    bytes += length;
  }
  if (batch.length > 0) yield batch;
}

/** Big enough for any block's decoded bytes and any block's compressed payload. */
function decoderSize(index: BlockIndexView, sources: Uint8Array): number {
  let max = index.blockSize;
  for (let i = 0; i < index.blockCount; i++) if (sources[i] !== PRESENT) max = Math.max(max, index.compressedLength(i));
  return max;
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
