/**
 * The 64-bit piece hash of block indexes: xxh64 (seed 0) of each 4 KiB piece. Not a security
 * hash, and not used as one: it only finds candidate bytes on the host, and every block built from
 * them is checked against its sha256. xxh64 because hashing a whole partition per piece with
 * sha256 costs about 8x more (1.8 s against 0.22 s per GiB here).
 */
import xxhash from 'xxhash-wasm';

export interface PieceHasher {
  /** The hash of one piece. */
  hash(piece: Uint8Array): bigint;
  /** Hashes `data` piece by piece (the last piece may be short) into `out` from `at`; returns the count. */
  hashPieces(data: Uint8Array, pieceSize: number, out: BigUint64Array, at: number): number;
}

let loaded: Promise<PieceHasher> | undefined;

export function loadPieceHasher(): Promise<PieceHasher> {
  loaded ??= xxhash().then(({ h64Raw }) => ({
    hash: (piece) => h64Raw(piece),
    hashPieces(data, pieceSize, out, at) {
      let n = 0;
      for (let offset = 0; offset < data.length; offset += pieceSize, n++) {
        out[at + n] = h64Raw(data.subarray(offset, Math.min(data.length, offset + pieceSize)));
      }
      return n;
    },
  }));
  return loaded;
}
