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
 * Decodes and checks an index against the image target it claims to describe (see
 * `openBlockIndex`), as objects: for tools and tests. updog's install reads the compact view.
 */
export function decodeBlockIndex(bytes: Buffer, image: ImageTarget): BlockIndex {
  const view = openBlockIndex(bytes, image);
  const blocks = Array.from({ length: view.blockCount }, (_, i) => view.block(i));
  const pieceStart = Uint32Array.from({ length: view.blockCount + 1 }, (_, i) => (i === 0 ? 0 : view.pieceEnd(i - 1)));
  const pieceHashes = new BigUint64Array(view.pieceWords.length / 2);
  for (let p = 0; p < pieceHashes.length; p++) pieceHashes[p] = view.pieceHash(p);
  const { blockSize, pieceSize, imageLength, decodedLength, imageSha256 } = view;
  return { blockSize, pieceSize, imageLength, decodedLength, imageSha256, blocks, pieceHashes, pieceStart };
}

/** The image target an index must describe. */
export interface ImageTarget {
  name: string;
  length: number;
  sha256: string;
}

/**
 * Checks an index against the image target it claims to describe: blocks in order, decoded bytes
 * contiguous from 0 in fixed-size blocks, compressed ranges inside the image and not overlapping.
 * Throws a BlockIndexError naming the first fault. The view reads its fields from `bytes` on
 * demand: no object per block (88 bytes a block and 8 a piece, 3.4 MiB per GiB of 64 KiB blocks).
 */
export function openBlockIndex(bytes: Buffer, image: ImageTarget): BlockIndexView {
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
  const piecesAt = HEADER_LENGTH + blockCount * RECORD_LENGTH;
  const expected = piecesAt + pieceCount * PIECE_HASH_LENGTH;
  if (bytes.length !== expected) fail(`${bytes.length} bytes where ${blockCount} blocks need ${expected}`);
  // the piece hashes are read as 32-bit words: they must be 4-byte aligned in memory
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);

  let endOfPrevious = MIN_FRAME_HEADER;
  for (let i = 0, at = HEADER_LENGTH; i < blockCount; i++, at += RECORD_LENGTH) {
    const compressedOffset = safeNumber(bytes.readBigUInt64LE(at), fail);
    const compressedLength = bytes.readUInt32LE(at + 8);
    const blockLength = bytes.readUInt32LE(at + 12);
    const blockOffset = safeNumber(bytes.readBigUInt64LE(at + 16), fail);
    const wantLength = i < blockCount - 1 ? blockSize : decodedLength - i * blockSize;
    if (blockOffset !== i * blockSize || blockLength !== wantLength) {
      fail(`block ${i} decodes to bytes ${blockOffset}+${blockLength}, expected ${i * blockSize}+${wantLength}`);
    }
    if (compressedLength <= BLOCK_SIZE_WORD || compressedLength > BLOCK_SIZE_WORD + MAX_BLOCK_SIZE) {
      fail(`block ${i} has an impossible compressed length ${compressedLength}`);
    }
    if (compressedOffset < endOfPrevious) fail(`block ${i} overlaps the frame header or the block before it`);
    endOfPrevious = compressedOffset + compressedLength;
    if (endOfPrevious > imageLength) fail(`block ${i} ends at ${endOfPrevious}, past the end of the ${imageLength}-byte image`);
  }
  return BlockIndexView.of(
    { blockSize, pieceSize, blockCount, imageLength, decodedLength, imageSha256 },
    aligned.subarray(HEADER_LENGTH, piecesAt),
    new Uint32Array(aligned.buffer, aligned.byteOffset + piecesAt, pieceCount * 2),
  );
}

interface IndexHeader {
  blockSize: number;
  pieceSize: number;
  blockCount: number;
  imageLength: number;
  decodedLength: number;
  imageSha256: Buffer;
}

/**
 * An index's blocks, read from its records on demand. A view of the whole index holds every
 * block; `retain` makes a smaller one that holds only some of them (the others may not be asked for).
 */
export class BlockIndexView {
  readonly blockSize: number;
  readonly pieceSize: number;
  readonly blockCount: number;
  readonly imageLength: number;
  readonly decodedLength: number;
  readonly imageSha256: Buffer;

  /**
   * `records`: RECORD_LENGTH bytes per held block; `pieceWords`: the piece hashes of the held
   * blocks, block after block, as little-endian 32-bit word pairs. `slots` (when only some blocks
   * are held): per block, its record's number or -1, and `firstPieces` per record its first piece.
   */
  private constructor(
    header: IndexHeader,
    private readonly records: Buffer,
    /** Piece p's hash is words 2p (low) and 2p + 1 (high); pieces numbered by `pieceStart`. */
    readonly pieceWords: Uint32Array,
    private readonly slots?: Int32Array,
    private readonly firstPieces?: Uint32Array,
  ) {
    this.blockSize = header.blockSize;
    this.pieceSize = header.pieceSize;
    this.blockCount = header.blockCount;
    this.imageLength = header.imageLength;
    this.decodedLength = header.decodedLength;
    this.imageSha256 = header.imageSha256;
  }

  /** A view of a whole index; openBlockIndex checks the bytes first. */
  static of(header: IndexHeader, records: Buffer, pieceWords: Uint32Array): BlockIndexView {
    return new BlockIndexView(header, records, pieceWords);
  }

  /**
   * A view holding only the blocks `keep` selects (copied: this view's memory can then go). An
   * install keeps the blocks not yet in place, so what it holds grows with what changed, not
   * with the image.
   */
  retain(keep: (i: number) => boolean): BlockIndexView {
    const slots = new Int32Array(this.blockCount).fill(-1);
    let held = 0;
    let pieces = 0;
    for (let i = 0; i < this.blockCount; i++) {
      if (!keep(i)) continue;
      slots[i] = held++;
      pieces += this.pieceEnd(i) - this.pieceStart(i);
    }
    const records = Buffer.allocUnsafe(held * RECORD_LENGTH);
    const pieceWords = new Uint32Array(pieces * 2);
    const firstPieces = new Uint32Array(held);
    for (let i = 0, piece = 0; i < this.blockCount; i++) {
      const slot = slots[i]!;
      if (slot < 0) continue;
      this.records.copy(records, slot * RECORD_LENGTH, this.recordAt(i), this.recordAt(i) + RECORD_LENGTH);
      firstPieces[slot] = piece;
      pieceWords.set(this.pieceWords.subarray(2 * this.pieceStart(i), 2 * this.pieceEnd(i)), 2 * piece);
      piece += this.pieceEnd(i) - this.pieceStart(i);
    }
    return new BlockIndexView(this, records, pieceWords, slots, firstPieces);
  }

  /** Offset of block i's size word in the compressed image. */
  compressedOffset(i: number): number {
    return Number(this.records.readBigUInt64LE(this.recordAt(i)));
  }

  /** Block i's size word plus payload. */
  compressedLength(i: number): number {
    return this.records.readUInt32LE(this.recordAt(i) + 8);
  }

  /** Where block i's decoded bytes go in the partition. */
  blockOffset(i: number): number {
    return i * this.blockSize;
  }

  /** Block i's decoded length. */
  blockLength(i: number): number {
    return this.records.readUInt32LE(this.recordAt(i) + 12);
  }

  /** The sha256 of block i's decoded bytes: a view of the index's memory. */
  blockSha256(i: number): Buffer {
    return this.records.subarray(this.recordAt(i) + 24, this.recordAt(i) + 56);
  }

  compressedSha256(i: number): Buffer {
    return this.records.subarray(this.recordAt(i) + 56, this.recordAt(i) + 88);
  }

  /** Block i's first piece in `pieceWords`. */
  pieceStart(i: number): number {
    return this.firstPieces === undefined ? i * (this.blockSize / this.pieceSize) : this.firstPieces[this.slot(i)]!;
  }

  /** One past block i's last piece. */
  pieceEnd(i: number): number {
    return this.pieceStart(i) + piecesIn(this.blockLength(i), this.pieceSize);
  }

  pieceHash(p: number): bigint {
    return (BigInt(this.pieceWords[2 * p + 1]!) << 32n) | BigInt(this.pieceWords[2 * p]!);
  }

  /** Block i as an object (copies its hashes). */
  block(i: number): IndexedBlock {
    return {
      compressedOffset: this.compressedOffset(i),
      compressedLength: this.compressedLength(i),
      decodedOffset: this.blockOffset(i),
      decodedLength: this.blockLength(i),
      decodedSha256: Buffer.from(this.blockSha256(i)),
      compressedSha256: Buffer.from(this.compressedSha256(i)),
    };
  }

  private slot(i: number): number {
    const slot = i >= 0 && i < this.blockCount ? (this.slots === undefined ? i : this.slots[i]!) : -1;
    if (slot < 0) throw new RangeError(`block ${i} is not held by this view of the block index`);
    return slot;
  }

  private recordAt(i: number): number {
    return this.slot(i) * RECORD_LENGTH;
  }
}

function safeNumber(value: bigint, fail: (why: string) => never): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`offset or length ${value} is out of range`);
  return Number(value);
}
