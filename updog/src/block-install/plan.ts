/**
 * Which source each block of an image comes from, in order of preference: already in place in
 * the inactive partition (a resumed install), assembled from pieces found on the host, or fetched.
 * Pure: the I/O that finds present blocks and pieces is in local-blocks.ts.
 */
import type { BlockIndex, IndexedBlock } from '../block-index/format.js';
import type { PieceTable } from './piece-table.js';

/** A piece position meaning "all zeros": written without reading anything. */
export const ZERO_PIECE = -2;

export type BlockSource =
  | { kind: 'present' }
  /** Where each piece of the block is on the active partition (bytes from its start), or ZERO_PIECE. */
  | { kind: 'local'; pieces: number[] }
  | { kind: 'fetch' };

export interface BlockPlan {
  sources: BlockSource[];
  /** Decoded bytes already in place, and decoded bytes to copy from the host. */
  presentBytes: number;
  localBytes: number;
  /** Compressed bytes to fetch. */
  fetchBytes: number;
}

/**
 * Every block not `present` whose pieces were all seen on the host (or are zeros) is `local`;
 * the rest are fetched. `zeroPieceHash` is the hash of a whole piece of zeros.
 */
export function planBlocks(index: BlockIndex, present: readonly boolean[], table: PieceTable, zeroPieceHash: bigint): BlockPlan {
  const plan: BlockPlan = { sources: [], presentBytes: 0, localBytes: 0, fetchBytes: 0 };
  index.blocks.forEach((block, i) => {
    if (present[i] === true) {
      plan.sources.push({ kind: 'present' });
      plan.presentBytes += block.decodedLength;
      return;
    }
    const pieces = locatePieces(index, i, table, zeroPieceHash);
    if (pieces === undefined) {
      plan.sources.push({ kind: 'fetch' });
      plan.fetchBytes += block.compressedLength;
    } else {
      plan.sources.push({ kind: 'local', pieces });
      plan.localBytes += block.decodedLength;
    }
  });
  return plan;
}

function locatePieces(index: BlockIndex, i: number, table: PieceTable, zeroPieceHash: bigint): number[] | undefined {
  const pieces: number[] = [];
  const lastByte = index.blocks[i]!.decodedLength;
  for (let p = index.pieceStart[i]!, at = 0; p < index.pieceStart[i + 1]!; p++, at += index.pieceSize) {
    const hash = index.pieceHashes[p]!;
    // a short last piece is not a whole piece of zeros, whatever its bytes
    if (hash === zeroPieceHash && lastByte - at >= index.pieceSize) {
      pieces.push(ZERO_PIECE);
      continue;
    }
    const position = table.find(hash);
    if (position === undefined) return undefined;
    pieces.push(position);
  }
  return pieces;
}

/** One read from the host: `length` bytes at `from` on the active partition into the block at `to`. */
export interface LocalRead {
  from: number;
  to: number;
  length: number;
}

/** The reads that assemble a local block: neighbouring pieces that are neighbours on the host too become one read. */
export function localReads(pieces: readonly number[], pieceSize: number, blockLength: number): LocalRead[] {
  const reads: LocalRead[] = [];
  pieces.forEach((from, p) => {
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
