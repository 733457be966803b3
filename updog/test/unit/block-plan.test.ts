import { describe, expect, it } from 'vitest';
import { encodeBlockIndex, openBlockIndex, type BlockIndexView, type IndexedBlock } from '../../src/block-index/format.js';
import { hashWords, PieceTable } from '../../src/block-install/piece-table.js';
import { FETCH, fetchRanges, LOCAL, localReads, locateBlocks, passEnd, piecePosition, PRESENT, wantPieces, ZERO_PIECE } from '../../src/block-install/plan.js';

const PIECE = 4096;
const ZERO = 0xdeadn;

/** An index of blocks of 2 pieces each; `hashes` are the piece hashes, block after block. */
function indexOf(hashes: bigint[][], lastLength = 2 * PIECE): BlockIndexView {
  const blocks: IndexedBlock[] = hashes.map((_, i) => ({
    compressedOffset: 7 + i * 100,
    compressedLength: 100,
    decodedOffset: i * 2 * PIECE,
    decodedLength: i === hashes.length - 1 ? lastLength : 2 * PIECE,
    decodedSha256: Buffer.alloc(32),
    compressedSha256: Buffer.alloc(32),
  }));
  const imageLength = 7 + hashes.length * 100 + 8;
  const bytes = encodeBlockIndex({
    blockSize: 2 * PIECE,
    pieceSize: PIECE,
    imageLength,
    decodedLength: blocks.reduce((n, b) => n + b.decodedLength, 0),
    imageSha256: Buffer.alloc(32),
    blocks,
    pieceHashes: BigUint64Array.from(hashes.flat()),
  });
  return openBlockIndex(bytes, { name: 'image', length: imageLength, sha256: '00'.repeat(32) });
}

/** A table of `wanted` hashes that saw `seen` (hash, position) in order; returns where each of `ask` was found. */
function probe(capacity: number, wanted: bigint[], seen: [bigint, number][], ask: bigint[]): (number | undefined)[] {
  const table = new PieceTable(capacity);
  const w = hashWords(BigUint64Array.from(wanted));
  wanted.forEach((_, i) => table.want(w, i));
  const s = hashWords(BigUint64Array.from(seen.map(([h]) => h)));
  seen.forEach(([, position], i) => table.record(s, i, position));
  const a = hashWords(BigUint64Array.from(ask));
  return ask.map((_, i) => table.find(a, i));
}

describe('PieceTable', () => {
  it('finds only wanted hashes, at their first sighting, including the hash 0', () => {
    const wanted = [1n, 17n, 0n, 2n ** 64n - 1n, 17n]; // 17 twice: harmless
    const seen: [bigint, number][] = [
      [5n, 0], // not wanted
      [17n, 8192],
      [17n, 4096], // later sighting: ignored
      [0n, 12288],
      [2n ** 64n - 1n, 0],
      [2n ** 32n + 17n, 999], // same low word as 17, another hash
    ];
    expect(probe(4, wanted, seen, [1n, 17n, 0n, 2n ** 64n - 1n, 5n, 2n ** 32n + 17n])).toEqual([undefined, 8192, 12288, 0, undefined, undefined]);
  });

  it('keeps hashes apart that collide in their low bits (linear probing)', () => {
    // 16 slots: keys equal mod 16 share a home slot
    expect(probe(3, [16n, 32n, 48n], [[16n, 0], [32n, PIECE], [48n, 2 * PIECE]], [16n, 32n, 48n])).toEqual([0, PIECE, 2 * PIECE]);
  });
});

describe('locateBlocks', () => {
  it('keeps present blocks, makes local those whose pieces were all found (or are zeros), fetches the rest; sums bytes', () => {
    const index = indexOf([[1n, 2n], [3n, ZERO], [4n, 5n], [ZERO, ZERO]], PIECE + 10);
    const sources = Uint8Array.of(PRESENT, FETCH, FETCH, FETCH);
    const table = new PieceTable(8);
    wantPieces(index, sources, 0, 4, table);
    const seen = hashWords(BigUint64Array.of(3n, 4n, 1n));
    table.record(seen, 0, 40960);
    table.record(seen, 1, 0); // 5n never seen
    const zero = hashWords(BigUint64Array.of(ZERO));
    expect(table.find(hashWords(BigUint64Array.of(1n)), 0)).toBeUndefined(); // block 0 is present: its pieces were not wanted
    table.record(seen, 2, 8192);
    expect(locateBlocks(index, sources, 0, 4, table, zero)).toEqual({ localBytes: 2 * PIECE, fetchBytes: 200 });
    // the last block's second piece is short (10 bytes): not a whole piece of zeros, and not seen
    expect([...sources]).toEqual([PRESENT, LOCAL, FETCH, FETCH]);
    expect([2, 3].map((p) => piecePosition(index, 1, p, table, zero))).toEqual([40960, ZERO_PIECE]);
    expect(piecePosition(index, 3, 7, table, zero)).toBeUndefined();
  });
});

describe('passEnd', () => {
  it('ends a pass before the block whose pieces would overflow the table, skips present blocks, takes at least one block', () => {
    const index = indexOf([[1n, 2n], [3n, 4n], [5n, 6n], [7n, 8n]]);
    const sources = Uint8Array.of(FETCH, PRESENT, FETCH, FETCH);
    expect(passEnd(index, sources, 0, 4)).toEqual({ end: 3, pieces: 4 });
    expect(passEnd(index, sources, 3, 4)).toEqual({ end: 4, pieces: 2 });
    expect(passEnd(index, sources, 0, 1)).toEqual({ end: 2, pieces: 2 }); // the present block 1 rides along
    expect(passEnd(index, Uint8Array.of(PRESENT, PRESENT, PRESENT, PRESENT), 0, 1)).toEqual({ end: 4, pieces: 0 });
  });
});

describe('localReads', () => {
  it('merges pieces that are neighbours in the block and on the host, skips zero pieces, cuts the short tail', () => {
    expect(localReads([8192, 12288, ZERO_PIECE, 0, 4096, 40960], PIECE, 5 * PIECE + 100)).toEqual([
      { from: 8192, to: 0, length: 8192 },
      { from: 0, to: 3 * PIECE, length: 8192 },
      { from: 40960, to: 5 * PIECE, length: 100 },
    ]);
  });
});

describe('fetchRanges', () => {
  it('joins blocks that follow each other in the file up to the size cap, never across a gap', () => {
    const index = indexOf([[1n, 1n], [2n, 2n], [3n, 3n], [4n, 4n], [5n, 5n], [6n, 6n]]);
    expect(fetchRanges(index, [0, 1, 2, 4, 5], 250)).toEqual([
      { start: 7, end: 207, blocks: [0, 1] },
      { start: 207, end: 307, blocks: [2] },
      { start: 407, end: 607, blocks: [4, 5] },
    ]);
  });
});
