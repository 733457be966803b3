/// <reference path="../common/webassembly.d.ts" />
/**
 * Piece hashes of whole chunks of a partition, in WebAssembly (xxh64.wat): the chunk is read
 * straight into the module's memory and hashed in one call, so scanning a partition allocates
 * nothing per piece. Gives the same hashes as the block index's (piece-hash.ts).
 */
import { compileOptimizable } from '../install/wasm-tiering.js';
import { XXH64_WASM_BASE64 } from './xxh64-wasm.js';

interface Xxh64Exports {
  xxh64_pieces(src: number, len: number, pieceSize: number, out: number): void;
}

const PAGE = 64 * 1024;
let compiled: WebAssembly.Module | undefined;

export class ChunkHasher {
  /** Read a chunk here (at most `chunkSize` bytes), then call `hash`. */
  readonly input: Buffer;
  private readonly hashes: BigUint64Array;
  private readonly wasm: Xxh64Exports;

  constructor(
    chunkSize: number,
    private readonly pieceSize: number,
  ) {
    const pieces = Math.ceil(chunkSize / pieceSize);
    const hashesAt = Math.ceil(chunkSize / 8) * 8;
    const pages = Math.ceil((hashesAt + pieces * 8) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    // optimized like the LZ4 decoder (wasm-tiering.ts): it hashes every byte of a partition
    compiled ??= compileOptimizable(() => new WebAssembly.Module(Buffer.from(XXH64_WASM_BASE64, 'base64')));
    this.wasm = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as Xxh64Exports;
    this.input = Buffer.from(memory.buffer, 0, chunkSize);
    this.hashes = new BigUint64Array(memory.buffer, hashesAt, pieces);
  }

  /** The hashes of the pieces of `input[0, length)` (the last may be short); valid until the next call. */
  hash(length: number): BigUint64Array {
    this.wasm.xxh64_pieces(0, length, this.pieceSize, this.hashes.byteOffset);
    return this.hashes.subarray(0, Math.ceil(length / this.pieceSize));
  }
}
