/**
 * Which source each block of an image comes from, in order of preference: already in place in
 * the inactive partition (a resumed install), assembled from pieces found on the host, or fetched.
 * Pure: the I/O that finds present blocks and pieces is in local-blocks.ts.
 */
import type { BlockIndexView } from '../block-index/format.js';
import type { HashWords, PieceTable } from './piece-table.js';

/** A piece position meaning "all zeros": written without reading anything. */
export const ZERO_PIECE = -2;

export const PRESENT = 0;
export const LOCAL = 1;
export const FETCH = 2;
export type BlockSource = typeof PRESENT | typeof LOCAL | typeof FETCH;

/**
 * One pass of the host scan plans blocks [from, end): as many blocks as fit in a table of
 * `maxPieces` wanted pieces (at least one). Present blocks want nothing. `pieces`: those wanted.
 */
export function passEnd(index: BlockIndexView, sources: Uint8Array, from: number, maxPieces: number): { end: number; pieces: number } {
  let pieces = 0;
  let end = from;
  for (; end < index.blockCount; end++) {
    if (sources[end] === PRESENT) continue;
    const more = index.pieceEnd(end) - index.pieceStart(end);
    if (pieces + more > maxPieces && pieces > 0) break;
    pieces += more;
  }
  return { end, pieces };
}

/** Adds the pieces of the blocks in [from, end) that are not present to `table`. */
export function wantPieces(index: BlockIndexView, sources: Uint8Array, from: number, end: number, table: PieceTable): void {
  for (let i = from; i < end; i++) {
    if (sources[i] === PRESENT) continue;
    for (let p = index.pieceStart(i), endPiece = index.pieceEnd(i); p < endPiece; p++) table.want(index.pieceWords, p);
  }
}

/**
 * Every block of [from, end) not present whose pieces were all seen on the host (or are zeros)
 * becomes LOCAL; the others stay FETCH. Returns the decoded bytes to copy and the compressed
 * bytes to fetch.
 */
export function locateBlocks(index: BlockIndexView, sources: Uint8Array, from: number, end: number, table: PieceTable, zero: HashWords): { localBytes: number; fetchBytes: number } {
  let localBytes = 0;
  let fetchBytes = 0;
  for (let i = from; i < end; i++) {
    if (sources[i] === PRESENT) continue;
    let found = true;
    for (let p = index.pieceStart(i), endPiece = index.pieceEnd(i); p < endPiece && found; p++) found = piecePosition(index, i, p, table, zero) !== undefined;
    sources[i] = found ? LOCAL : FETCH;
    if (found) localBytes += index.blockLength(i);
    else fetchBytes += index.compressedLength(i);
  }
  return { localBytes, fetchBytes };
}

/** Where piece p (of block i) is on the active partition (bytes from its start), ZERO_PIECE, or undefined when nowhere. */
export function piecePosition(index: BlockIndexView, i: number, p: number, table: PieceTable, zero: HashWords): number | undefined {
  const words = index.pieceWords;
  // a short last piece is not a whole piece of zeros, whatever its bytes
  const whole = index.blockLength(i) - (p - index.pieceStart(i)) * index.pieceSize >= index.pieceSize;
  if (words[2 * p] === zero[0] && words[2 * p + 1] === zero[1] && whole) return ZERO_PIECE;
  return table.find(words, p);
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
export function fetchRanges(index: BlockIndexView, toFetch: readonly number[], maxRangeBytes: number): FetchRange[] {
  const ranges: FetchRange[] = [];
  for (const i of toFetch) {
    const start = index.compressedOffset(i);
    const end = start + index.compressedLength(i);
    const last = ranges.at(-1);
    if (last !== undefined && last.end === start && end - last.start <= maxRangeBytes) {
      last.end = end;
      last.blocks.push(i);
    } else {
      ranges.push({ start, end, blocks: [i] });
    }
  }
  return ranges;
}
