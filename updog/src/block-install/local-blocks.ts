/**
 * Reading what the host already has: which blocks of the image are in place on the inactive
 * partition (an interrupted install, resumed), and where the pieces of the others sit on the
 * active partition. Streamed through one reused buffer: memory does not grow with the partition.
 */
import { createHash } from 'node:crypto';
import type { BlockIndex } from '../block-index/format.js';
import { PieceHasher } from '../block-index/piece-hash.js';
import { hashWords, type PieceTable } from './piece-table.js';

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

/** A hasher whose chunks hold whole blocks of the index and are at least SCAN_CHUNK bytes. */
export function scanHasher(index: BlockIndex): PieceHasher {
  return new PieceHasher(index.pieceSize, Math.max(SCAN_CHUNK, index.blockSize));
}

/**
 * Which blocks already hold their decoded bytes at their place on the partition at
 * `partitionOffset`. Read in large chunks; only each block's first piece is hashed (xxh64), and a
 * block is hashed whole (sha256) only when that piece matches; a block of zeros (free space in a
 * file system image) is compared, not hashed.
 */
export async function findPresentBlocks(disk: ReadableDisk, partitionOffset: number, index: BlockIndex, hasher: PieceHasher): Promise<boolean[]> {
  const blocksPerChunk = Math.floor(hasher.input.length / index.blockSize);
  const zeros = Buffer.alloc(index.blockSize);
  const zeroBlockSha256 = sha256(zeros);
  const present: boolean[] = [];
  for (let first = 0; first < index.blocks.length; first += blocksPerChunk) {
    const last = Math.min(index.blocks.length, first + blocksPerChunk) - 1;
    const start = index.blocks[first]!.decodedOffset;
    const chunk = await readExactly(disk, hasher.input, index.blocks[last]!.decodedOffset + index.blocks[last]!.decodedLength - start, partitionOffset + start);
    for (let i = first; i <= last; i++) {
      const block = index.blocks[i]!;
      const bytes = chunk.subarray(block.decodedOffset - start, block.decodedOffset - start + block.decodedLength);
      const firstPiece = hasher.hashInputAt(block.decodedOffset - start, Math.min(index.pieceSize, block.decodedLength));
      if (firstPiece !== index.pieceHashes[index.pieceStart[i]!]) present.push(false);
      else if (bytes.length === zeros.length && block.decodedSha256.equals(zeroBlockSha256)) present.push(bytes.equals(zeros));
      else present.push(sha256(bytes).equals(block.decodedSha256));
    }
  }
  return present;
}

/** Hashes every whole piece of the partition and records the wanted ones in `table` (positions from the partition's start). */
export async function scanPieces(disk: ReadableDisk, partition: { offset: number; size: number }, pieceSize: number, table: PieceTable, hasher: PieceHasher): Promise<void> {
  const end = partition.size - (partition.size % pieceSize);
  const chunkSize = hasher.input.length - (hasher.input.length % pieceSize);
  for (let at = 0; at < end; at += chunkSize) {
    const length = Math.min(chunkSize, end - at);
    await readExactly(disk, hasher.input, length, partition.offset + at);
    const hashes = hashWords(hasher.hashInput(length));
    for (let p = 0; p < hashes.length / 2; p++) table.record(hashes, p, at + p * pieceSize);
  }
}
