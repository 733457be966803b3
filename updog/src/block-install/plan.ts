/**
 * Which source each block of an image comes from, in order of preference: already in place in
 * the inactive partition (a resumed install), assembled from pieces found on the host, or fetched.
 * Pure: the I/O that finds present blocks and pieces is in local-blocks.ts.
 */
import type { BlockIndex, IndexedBlock } from '../block-index/format.js';
import { hashWords, type HashWords, type PieceTable } from './piece-table.js';

/** A piece position meaning "all zeros": written without reading anything. */
export const ZERO_PIECE = -2;
/** A piece position meaning "not on the host". */
const NOWHERE = -1;

export const PRESENT = 0;
export const LOCAL = 1;
export const FETCH = 2;
export type BlockSource = typeof PRESENT | typeof LOCAL | typeof FETCH;

/** Typed arrays, not an object per block: an image of 64 KiB blocks has 16,384 blocks per GiB. */
export interface BlockPlan {
  /** Per block: PRESENT, LOCAL or FETCH. */
  sources: Uint8Array;
  /** Per piece (index.pieceStart numbering): where it is on the active partition (bytes from its start), or ZERO_PIECE; set for LOCAL blocks. */
  piecePositions: Float64Array;
  /** Decoded bytes already in place, and decoded bytes to copy from the host. */
  presentBytes: number;
  localBytes: number;
  /** Compressed bytes to fetch. */
  fetchBytes: number;
}

/**
 * Every block not present whose pieces were all seen on the host (or are zeros) is LOCAL; the
 * rest are fetched. `zeroPieceHash` is the hash of a whole piece of zeros.
 */
export function planBlocks(index: BlockIndex, present: ArrayLike<boolean>, table: PieceTable, zeroPieceHash: bigint): BlockPlan {
  const words = hashWords(index.pieceHashes);
  const zero = hashWords(BigUint64Array.of(zeroPieceHash));
  const plan: BlockPlan = {
    sources: new Uint8Array(index.blocks.length),
    piecePositions: new Float64Array(index.pieceHashes.length).fill(NOWHERE),
    presentBytes: 0,
    localBytes: 0,
    fetchBytes: 0,
  };
  index.blocks.forEach((block, i) => {
    if (present[i] === true) {
      plan.sources[i] = PRESENT;
      plan.presentBytes += block.decodedLength;
    } else if (locatePieces(index, i, { table, words, zero }, plan.piecePositions)) {
      plan.sources[i] = LOCAL;
      plan.localBytes += block.decodedLength;
    } else {
      plan.sources[i] = FETCH;
      plan.fetchBytes += block.compressedLength;
    }
  });
  return plan;
}

/** Fills in where block i's pieces are; false when one is nowhere on the host. */
function locatePieces(index: BlockIndex, i: number, hashes: { table: PieceTable; words: HashWords; zero: HashWords }, positions: Float64Array): boolean {
  const { table, words, zero } = hashes;
  const lastByte = index.blocks[i]!.decodedLength;
  for (let p = index.pieceStart[i]!, at = 0; p < index.pieceStart[i + 1]!; p++, at += index.pieceSize) {
    // a short last piece is not a whole piece of zeros, whatever its bytes
    if (words[2 * p] === zero[0] && words[2 * p + 1] === zero[1] && lastByte - at >= index.pieceSize) {
      positions[p] = ZERO_PIECE;
      continue;
    }
    const position = table.find(words, p);
    if (position === undefined) return false;
    positions[p] = position;
  }
  return true;
}

/** One read from the host: `length` bytes at `from` on the active partition into the block at `to`. */
export interface LocalRead {
  from: number;
  to: number;
  length: number;
}

/** The reads that assemble a local block: neighbouring pieces that are neighbours on the host too become one read. */
export function localReads(pieces: ArrayLike<number>, pieceSize: number, blockLength: number): LocalRead[] {
  const reads: LocalRead[] = [];
  Array.prototype.forEach.call(pieces, (from: number, p: number) => {
    if (from === ZERO_PIECE) return;
    const to = p * pieceSize;
    const length = Math.min(pieceSize, blockLength - to);
    const last = reads.at(-1);
    if (last !== undefined && last.from + last.length === from && last.to + last.length === to) last.length += length;
    else reads.push({ from, to, length });
  });
  return reads;
}

/** A byte range of the compressed image to fetch in one request: blocks that follow each other in the file. */
export interface FetchRange {
  start: number;
  end: number;
  blocks: number[];
}

/** Groups the blocks to fetch into ranges of neighbouring blocks, each at most `maxRangeBytes` (but at least one block). */
export function fetchRanges(blocks: readonly IndexedBlock[], toFetch: readonly number[], maxRangeBytes: number): FetchRange[] {
  const ranges: FetchRange[] = [];
  for (const i of toFetch) {
    const block = blocks[i]!;
    const end = block.compressedOffset + block.compressedLength;
    const last = ranges.at(-1);
    if (last !== undefined && last.end === block.compressedOffset && end - last.start <= maxRangeBytes) {
      last.end = end;
      last.blocks.push(i);
    } else {
      ranges.push({ start: block.compressedOffset, end, blocks: [i] });
    }
  }
  return ranges;
}
