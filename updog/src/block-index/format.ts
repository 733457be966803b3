/**
 * The block index of an image target: where each independent LZ4 block of the image sits in the
 * compressed file, what it decodes to (sha256), and a 64-bit hash of every 4 KiB piece of its
 * decoded bytes. It is published as its own TUF target (`<image target>.blockindex`), so its bytes
 * are covered by targets.json like the image's; updog then verifies each block it writes against
 * it instead of hashing the whole compressed file. Piece hashes are only hints for finding bytes
 * on the host: a block assembled from them is still checked against its sha256.
 *
 * Binary, little-endian:
 *   header (80 bytes): magic "UPDOGIDX", u32 version (1), u32 block size, u32 piece size,
 *     u32 block count, u64 image length, u64 decoded length, 32-byte sha256 of the image target
 *   block count x record (88 bytes): u64 compressed offset, u32 compressed length (with the block's
 *     4-byte size word), u32 decoded length, u64 decoded offset, 32-byte sha256 of the decoded
 *     bytes, 32-byte sha256 of the compressed bytes (size word included)
 *   piece hashes: u64 xxh64 of each piece, block after block (ceil(decoded length / piece size) each)
 */
import { UserError } from '../common/errors.js';

export const BLOCK_INDEX_MAGIC = 'UPDOGIDX';
export const BLOCK_INDEX_VERSION = 1;
export const BLOCK_INDEX_SUFFIX = '.blockindex';
export const HEADER_LENGTH = 80;
export const RECORD_LENGTH = 88;
export const PIECE_HASH_LENGTH = 8;
/** LZ4 frames allow blocks of up to 4 MiB. */
export const MAX_BLOCK_SIZE = 4 * 1024 * 1024;
/** The smallest LZ4 frame header (magic, FLG, BD, header checksum). */
const MIN_FRAME_HEADER = 7;
const BLOCK_SIZE_WORD = 4;

export interface IndexedBlock {
  /** Offset of the block's size word in the compressed image. */
  compressedOffset: number;
  /** Size word plus payload. */
  compressedLength: number;
  decodedOffset: number;
  decodedLength: number;
  decodedSha256: Buffer;
  compressedSha256: Buffer;
}

export interface BlockIndex {
  blockSize: number;
  pieceSize: number;
  imageLength: number;
  decodedLength: number;
  /** sha256 of the image target this index describes. */
  imageSha256: Buffer;
  blocks: IndexedBlock[];
  /** xxh64 of every piece, block after block; `pieceStart[i]` is block i's first. */
  pieceHashes: BigUint64Array;
  pieceStart: Uint32Array;
}

/** An index that is not well formed or does not describe its image. */
export class BlockIndexError extends UserError {}

/** The name of the index target published next to an image target. */
export function blockIndexTargetName(imageTarget: string): string {
  return imageTarget + BLOCK_INDEX_SUFFIX;
}

export function piecesIn(decodedLength: number, pieceSize: number): number {
  return Math.ceil(decodedLength / pieceSize);
}

/** Encodes an index (tuf-repo-tools writes it; tests craft bad ones from it). */
export function encodeBlockIndex(index: Omit<BlockIndex, 'pieceStart'>): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH + index.blocks.length * RECORD_LENGTH + index.pieceHashes.length * PIECE_HASH_LENGTH);
  out.write(BLOCK_INDEX_MAGIC, 0, 'latin1');
  out.writeUInt32LE(BLOCK_INDEX_VERSION, 8);
  out.writeUInt32LE(index.blockSize, 12);
  out.writeUInt32LE(index.pieceSize, 16);
  out.writeUInt32LE(index.blocks.length, 20);
  out.writeBigUInt64LE(BigInt(index.imageLength), 24);
  out.writeBigUInt64LE(BigInt(index.decodedLength), 32);
  index.imageSha256.copy(out, 40);
  let at = HEADER_LENGTH;
  for (const b of index.blocks) {
    out.writeBigUInt64LE(BigInt(b.compressedOffset), at);
    out.writeUInt32LE(b.compressedLength, at + 8);
    out.writeUInt32LE(b.decodedLength, at + 12);
    out.writeBigUInt64LE(BigInt(b.decodedOffset), at + 16);
    b.decodedSha256.copy(out, at + 24);
    b.compressedSha256.copy(out, at + 56);
    at += RECORD_LENGTH;
  }
  for (const h of index.pieceHashes) {
    out.writeBigUInt64LE(h, at);
    at += PIECE_HASH_LENGTH;
  }
  return out;
}

/**
 * Decodes and checks an index against the image target it claims to describe: blocks in order,
 * decoded bytes contiguous from 0 in fixed-size blocks, compressed ranges inside the image and not
 * overlapping. Throws a BlockIndexError naming the first fault.
 */
export function decodeBlockIndex(bytes: Buffer, image: { name: string; length: number; sha256: string }): BlockIndex {
  const fail = (why: string): never => {
    throw new BlockIndexError(`block index of ${image.name}: ${why}`);
  };
  if (bytes.length < HEADER_LENGTH || bytes.toString('latin1', 0, 8) !== BLOCK_INDEX_MAGIC) fail('not a block index (bad magic)');
  const version = bytes.readUInt32LE(8);
  if (version !== BLOCK_INDEX_VERSION) fail(`format version ${version}, this updog reads version ${BLOCK_INDEX_VERSION}`);
  const blockSize = bytes.readUInt32LE(12);
  const pieceSize = bytes.readUInt32LE(16);
  const blockCount = bytes.readUInt32LE(20);
  const imageLength = safeNumber(bytes.readBigUInt64LE(24), fail);
  const decodedLength = safeNumber(bytes.readBigUInt64LE(32), fail);
  const imageSha256 = Buffer.from(bytes.subarray(40, 72));
  if (pieceSize < 512 || (pieceSize & (pieceSize - 1)) !== 0) fail(`piece size ${pieceSize} is not a power of two of at least 512`);
  if (blockSize < pieceSize || blockSize > MAX_BLOCK_SIZE || blockSize % pieceSize !== 0) {
    fail(`block size ${blockSize} is not a multiple of the piece size ${pieceSize} up to ${MAX_BLOCK_SIZE}`);
  }
  if (imageLength !== image.length || imageSha256.toString('hex') !== image.sha256) {
    fail('it describes another image (its image length or sha256 differs from the signed target)');
  }
  if (blockCount !== Math.ceil(decodedLength / blockSize)) fail(`${blockCount} blocks cannot hold ${decodedLength} bytes in blocks of ${blockSize}`);
  const pieceCount = piecesIn(decodedLength, pieceSize);
  const expected = HEADER_LENGTH + blockCount * RECORD_LENGTH + pieceCount * PIECE_HASH_LENGTH;
  if (bytes.length !== expected) fail(`${bytes.length} bytes where ${blockCount} blocks need ${expected}`);

  const blocks: IndexedBlock[] = [];
  const pieceStart = new Uint32Array(blockCount + 1);
  let endOfPrevious = MIN_FRAME_HEADER;
  for (let i = 0, at = HEADER_LENGTH; i < blockCount; i++, at += RECORD_LENGTH) {
    const block: IndexedBlock = {
      compressedOffset: safeNumber(bytes.readBigUInt64LE(at), fail),
      compressedLength: bytes.readUInt32LE(at + 8),
      decodedLength: bytes.readUInt32LE(at + 12),
      decodedOffset: safeNumber(bytes.readBigUInt64LE(at + 16), fail),
      decodedSha256: Buffer.from(bytes.subarray(at + 24, at + 56)),
      compressedSha256: Buffer.from(bytes.subarray(at + 56, at + 88)),
    };
    const wantLength = i < blockCount - 1 ? blockSize : decodedLength - i * blockSize;
    if (block.decodedOffset !== i * blockSize || block.decodedLength !== wantLength) {
      fail(`block ${i} decodes to bytes ${block.decodedOffset}+${block.decodedLength}, expected ${i * blockSize}+${wantLength}`);
    }
    if (block.compressedLength <= BLOCK_SIZE_WORD || block.compressedLength > BLOCK_SIZE_WORD + MAX_BLOCK_SIZE) {
      fail(`block ${i} has an impossible compressed length ${block.compressedLength}`);
    }
    if (block.compressedOffset < endOfPrevious) fail(`block ${i} overlaps the frame header or the block before it`);
    endOfPrevious = block.compressedOffset + block.compressedLength;
    if (endOfPrevious > imageLength) fail(`block ${i} ends at ${endOfPrevious}, past the end of the ${imageLength}-byte image`);
    pieceStart[i + 1] = pieceStart[i]! + piecesIn(block.decodedLength, pieceSize);
    blocks.push(block);
  }
  const piecesAt = HEADER_LENGTH + blockCount * RECORD_LENGTH;
  const pieceHashes = new BigUint64Array(pieceCount);
  for (let p = 0; p < pieceCount; p++) pieceHashes[p] = bytes.readBigUInt64LE(piecesAt + p * PIECE_HASH_LENGTH);
  return { blockSize, pieceSize, imageLength, decodedLength, imageSha256, blocks, pieceHashes, pieceStart };
}

function safeNumber(value: bigint, fail: (why: string) => never): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`offset or length ${value} is out of range`);
  return Number(value);
}
