/// <reference path="../common/webassembly.d.ts" />
/**
 * The piece hash of block indexes: xxh64 (seed 0) of each 4 KiB piece, in WebAssembly
 * (xxh64.wat). tuf-repo-tools hashes the pieces of the blocks it packs with it, updog the pieces
 * of whole partitions: a chunk is read straight into the module's memory and hashed in one call,
 * with no call and no allocation per piece. Not a security hash, and not used as one: it only
 * finds candidate bytes on the host, and every block built from them is checked against its
 * sha256. xxh64 because sha256 per piece costs about 8x more.
 */
import { compileOptimizable } from '../common/wasm-tiering.js';
import { XXH64_WASM_BASE64 } from './xxh64-wasm.js';

interface Xxh64Exports {
  xxh64_pieces(src: number, len: number, pieceSize: number, out: number): void;
}

const PAGE = 64 * 1024;
const DEFAULT_CHUNK = 1024 * 1024;
let compiled: WebAssembly.Module | undefined;

export class PieceHasher {
  /** Read a chunk here (at most its length, a whole number of pieces), then call `hashInput`. */
  readonly input: Buffer;
  private readonly hashes: BigUint64Array;
  private readonly wasm: Xxh64Exports;

  constructor(
    readonly pieceSize = 4096,
    chunkSize = DEFAULT_CHUNK,
  ) {
    const chunk = Math.ceil(chunkSize / pieceSize) * pieceSize;
    const pieces = chunk / pieceSize;
    const pages = Math.ceil((chunk + pieces * 8) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    // optimized like the LZ4 decoder (wasm-tiering.ts): it hashes every byte of a partition
    compiled ??= compileOptimizable(() => new WebAssembly.Module(Buffer.from(XXH64_WASM_BASE64, 'base64')));
    this.wasm = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as Xxh64Exports;
    this.input = Buffer.from(memory.buffer, 0, chunk);
    this.hashes = new BigUint64Array(memory.buffer, chunk, pieces);
  }

  /** The hashes of the pieces of `input[0, length)` (the last may be short); valid until the next call. */
  hashInput(length: number): BigUint64Array {
    this.wasm.xxh64_pieces(0, length, this.pieceSize, this.hashes.byteOffset);
    return this.hashes.subarray(0, Math.ceil(length / this.pieceSize));
  }

  /** The hash of the `length` bytes (at most a piece) at `offset` of `input`: one piece of a chunk read there. */
  hashInputAt(offset: number, length: number): bigint {
    this.wasm.xxh64_pieces(offset, length, this.pieceSize, this.hashes.byteOffset);
    return this.hashes[0]!;
  }

  /** Hashes `data` piece by piece (the last piece may be short) into `out` from `at`; returns the count. */
  hashPieces(data: Uint8Array, out: BigUint64Array, at: number): number {
    let count = 0;
    for (let offset = 0; offset < data.length; offset += this.input.length) {
      const length = Math.min(this.input.length, data.length - offset);
      this.input.set(data.subarray(offset, offset + length));
      const hashes = this.hashInput(length);
      out.set(hashes, at + count);
      count += hashes.length;
    }
    return count;
  }

  /** The hash of one piece (1 byte up to a piece long). */
  hash(piece: Uint8Array): bigint {
    this.input.set(piece);
    return this.hashInput(piece.length)[0]!;
  }
}
