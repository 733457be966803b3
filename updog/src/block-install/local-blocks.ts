/**
 * Reading what the host already has: which blocks of the image are in place on the inactive
 * partition (an interrupted install, resumed), and where the pieces of the others sit on the
 * active partition. Streamed through two reused buffers (one is read while the other is hashed):
 * memory does not grow with the partition.
 */
import { createHash } from 'node:crypto';
import type { BlockIndexView } from '../block-index/format.js';
import { PieceHasher } from '../block-index/piece-hash.js';
import { hashWords, type PieceTable } from './piece-table.js';
import { FETCH, PRESENT } from './plan.js';

/** What this module needs of the disk (a `FileHandle` is one). */
export interface ReadableDisk {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** Bytes read per call while scanning a partition. */
const SCAN_CHUNK = 1024 * 1024;

export const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

/** Reads exactly `length` bytes at `position` (a partition is never shorter than asked: short reads mean the disk ended). */
export async function readExactly(disk: ReadableDisk, into: Buffer, length: number, position: number): Promise<Buffer> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await disk.read(into, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`the disk ends at byte ${position + done}, inside a partition`);
    done += bytesRead;
  }
  return into.subarray(0, length);
}

/** Two slots that take turns: one is read into while the other is worked on. */
export type SlotPair<T> = readonly [T, T];

/**
 * Reads item k + 1 into one slot while item k, already read into the other, is processed: the
 * reads run on the thread pool while the main thread hashes. Stops at the first error (a read
 * still in flight then is awaited, its own error dropped).
 */
export async function withReadAhead<T>(count: number, slots: SlotPair<T>, read: (k: number, slot: T) => Promise<unknown>, process: (k: number, slot: T) => void | Promise<void>): Promise<void> {
  let reading = count > 0 ? read(0, slots[0]) : undefined;
  try {
    for (let k = 0; k < count; k++) {
      await reading;
      reading = k + 1 < count ? read(k + 1, slots[(k + 1) % 2]!) : undefined;
      await process(k, slots[k % 2]!);
    }
  } finally {
    await reading?.catch(() => undefined);
  }
}

/** Two hashers whose chunks hold whole blocks of the index and are at least SCAN_CHUNK bytes. */
export function scanHashers(index: Pick<BlockIndexView, 'blockSize' | 'pieceSize'>): SlotPair<PieceHasher> {
  const chunk = Math.max(SCAN_CHUNK, index.blockSize);
  return [new PieceHasher(index.pieceSize, chunk), new PieceHasher(index.pieceSize, chunk)];
}

/**
 * Per block, PRESENT when it already holds its decoded bytes at its place on the partition at
 * `partitionOffset`, else FETCH (until the host scan finds it elsewhere). Read in large chunks;
 * only each block's first piece is hashed (xxh64), and a block is hashed whole (sha256) only when
 * that piece matches; a block of zeros (free space in a file system image) is compared, not hashed.
 */
export async function findPresentBlocks(disk: ReadableDisk, partitionOffset: number, index: BlockIndexView, hashers: SlotPair<PieceHasher>): Promise<Uint8Array> {
  const blocksPerChunk = Math.floor(hashers[0].input.length / index.blockSize);
  const zeros = Buffer.alloc(index.blockSize);
  const zeroBlockSha256 = sha256(zeros);
  const sources = new Uint8Array(index.blockCount);
  /** Chunk k: blocks first..last, decoded bytes [start, end) of the image. */
  const chunk = (k: number) => {
    const first = k * blocksPerChunk;
    const last = Math.min(index.blockCount, first + blocksPerChunk) - 1;
    return { first, last, start: index.blockOffset(first), end: index.blockOffset(last) + index.blockLength(last) };
  };
  await withReadAhead(
    Math.ceil(index.blockCount / blocksPerChunk),
    hashers,
    (k, hasher) => {
      const { start, end } = chunk(k);
      return readExactly(disk, hasher.input, end - start, partitionOffset + start);
    },
    (k, hasher) => {
      const { first, last, start } = chunk(k);
      for (let i = first; i <= last; i++) {
        const at = index.blockOffset(i) - start;
        const bytes = hasher.input.subarray(at, at + index.blockLength(i));
        const expected = index.blockSha256(i);
        const present =
          hasher.hashInputAt(at, Math.min(index.pieceSize, bytes.length)) === index.pieceHash(index.pieceStart(i)) &&
          (bytes.length === zeros.length && expected.equals(zeroBlockSha256) ? bytes.equals(zeros) : sha256(bytes).equals(expected));
        sources[i] = present ? PRESENT : FETCH;
      }
    },
  );
  return sources;
}

/** Hashes every whole piece of the partition and records the wanted ones in `table` (positions from the partition's start). */
export async function scanPieces(disk: ReadableDisk, partition: { offset: number; size: number }, pieceSize: number, table: PieceTable, hashers: SlotPair<PieceHasher>): Promise<void> {
  const end = partition.size - (partition.size % pieceSize);
  const chunkSize = hashers[0].input.length - (hashers[0].input.length % pieceSize);
  const length = (k: number) => Math.min(chunkSize, end - k * chunkSize);
  await withReadAhead(
    Math.ceil(end / chunkSize),
    hashers,
    (k, hasher) => readExactly(disk, hasher.input, length(k), partition.offset + k * chunkSize),
    (k, hasher) => {
      const hashes = hashWords(hasher.hashInput(length(k)));
      for (let p = 0; p < hashes.length / 2; p++) table.record(hashes, p, k * chunkSize + p * pieceSize);
    },
  );
}
