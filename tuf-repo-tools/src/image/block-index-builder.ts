/**
 * Builds the block index of an LZ4 image (format: updog's block-index/format.ts) from its blocks
 * in file order. Pure: the packer feeds it the blocks it writes, `indexLz4Image` the blocks it
 * reads. It keeps one 88-byte record per block and 8 bytes per 4 KiB piece (1/512 of the
 * decoded image), never the blocks themselves.
 */
import { createHash } from 'node:crypto';
import { encodeBlockIndex, openBlockIndex, PieceHasher, type IndexedBlock } from '@updog-ts/updog/image';

/** Piece size of the indexes we write: filesystems move data in 4 KiB units. */
export const PIECE_SIZE = 4096;

/** The image file an index describes. */
export interface IndexedImage {
  name: string;
  length: number;
  /** Hex sha256 of the image file. */
  sha256: string;
}

/** An encoded index and the figures worth reporting about it. */
export interface BuiltBlockIndex {
  bytes: Buffer;
  blockSize: number;
  blockCount: number;
}

export class BlockIndexBuilder {
  private readonly blocks: IndexedBlock[] = [];
  private pieceHashes = new BigUint64Array(1024);
  private pieceCount = 0;
  private decodedLength = 0;

  private readonly hasher = new PieceHasher(PIECE_SIZE);

  get blockCount(): number {
    return this.blocks.length;
  }

  /** The decoded length of the block added last (0 before the first). */
  get lastDecodedLength(): number {
    return this.blocks.at(-1)?.decodedLength ?? 0;
  }

  /**
   * Adds the next block: the image offset of its size word, the word, the bytes after it (block
   * checksum excluded) and what they decode to.
   */
  add(offset: number, sizeWord: number, payload: Uint8Array, data: Uint8Array): void {
    const word = Buffer.alloc(4);
    word.writeUInt32LE(sizeWord, 0);
    const pieces = Math.ceil(data.length / PIECE_SIZE);
    if (this.pieceCount + pieces > this.pieceHashes.length) {
      const grown = new BigUint64Array(Math.max(this.pieceHashes.length * 2, this.pieceCount + pieces));
      grown.set(this.pieceHashes.subarray(0, this.pieceCount));
      this.pieceHashes = grown;
    }
    this.pieceCount += this.hasher.hashPieces(data, this.pieceHashes, this.pieceCount);
    this.blocks.push({
      compressedOffset: offset,
      compressedLength: word.length + payload.length,
      decodedOffset: this.decodedLength,
      decodedLength: data.length,
      decodedSha256: createHash('sha256').update(data).digest(),
      compressedSha256: createHash('sha256').update(word).update(payload).digest(),
    });
    this.decodedLength += data.length;
  }

  /**
   * The encoded index, checked with the decoder updog uses, so that a builder fault shows here
   * rather than on hosts.
   */
  build(blockSize: number, image: IndexedImage): BuiltBlockIndex {
    const bytes = encodeBlockIndex({
      blockSize,
      pieceSize: PIECE_SIZE,
      imageLength: image.length,
      decodedLength: this.decodedLength,
      imageSha256: Buffer.from(image.sha256, 'hex'),
      blocks: this.blocks,
      pieceHashes: this.pieceHashes.subarray(0, this.pieceCount),
    });
    openBlockIndex(bytes, image);
    return { bytes, blockSize, blockCount: this.blocks.length };
  }
}
