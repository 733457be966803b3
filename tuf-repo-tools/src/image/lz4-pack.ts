/**
 * Streaming LZ4 *frame* encoder for image targets (the format `lz4 -9` writes): independent
 * blocks of a fixed decoded size (every block but the last), content checksum on, and the block
 * index of the result built on the way. Blocks are compressed by lz4-napi's native block
 * compressor (lz4_flex) so `tuf-repo image pack` needs no lz4 CLI; memory stays at one block plus
 * the index (1/512 of the image) whatever the image size. lz4_flex has a single (fast)
 * compression level, so files are somewhat larger than `lz4 -9` output but decode with any LZ4
 * frame decoder.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { compressSync } from 'lz4-napi';
import xxhash from 'xxhash-wasm';
import { UserError } from '@updog-ts/updog/common';
import { LZ4_FRAME_MAGIC, LZ4_UNCOMPRESSED_BIT, MAX_BLOCK_SIZE } from '@updog-ts/updog/image';
import { DigestTap, tempSibling } from '../fs/files.js';
import { BlockIndexBuilder, PIECE_SIZE, type BuiltBlockIndex } from './block-index-builder.js';

/**
 * Decoded size of each block of packed images. Smaller blocks let hosts reuse and fetch finer
 * pieces of an image; larger ones compress better (see the README's block size table).
 */
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
/** The smallest block maximum an LZ4 frame can declare. */
export const MIN_BLOCK_SIZE = 64 * 1024;

/** FLG: version 01, independent blocks, no block checksums, no content size, content checksum. */
const FLG = 0b0110_0100;

/** Refuses a block size that is not a whole number of pieces from 64 KiB to 4 MiB. */
export function checkBlockSize(blockSize: number): void {
  if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || blockSize % PIECE_SIZE !== 0) {
    throw new UserError(`block size ${blockSize} must be a multiple of ${PIECE_SIZE} from ${MIN_BLOCK_SIZE} (64 KiB) to ${MAX_BLOCK_SIZE} (4 MiB)`);
  }
}

/** The frame descriptor's block maximum code (4: 64 KiB, 5: 256 KiB, 6: 1 MiB, 7: 4 MiB): the smallest that holds `blockSize`. */
export function blockMaxCode(blockSize: number): number {
  let code = 4;
  while (1 << (8 + 2 * code) < blockSize) code++;
  return code;
}

/** Compresses one block to raw LZ4 block format (lz4-napi prefixes the decoded size: strip it). */
function compressBlock(block: Buffer): Buffer {
  const prefixed = compressSync(block);
  if (prefixed.length < 4 || prefixed.readUInt32LE(0) !== block.length) {
    throw new Error('lz4-napi compressSync returned an unexpected layout (expected a u32 size prefix)');
  }
  return prefixed.subarray(4);
}

/** Told of each block as it is encoded: the frame offset of its size word, the word, the bytes after it, its decoded bytes. */
export type OnEncodedBlock = (offset: number, sizeWord: number, payload: Buffer, data: Buffer) => void;

/** Encodes a stream of bytes as one LZ4 frame of `blockSize`-byte independent blocks. */
export async function* encodeLz4Frame(
  source: AsyncIterable<Uint8Array>,
  blockSize = DEFAULT_BLOCK_SIZE,
  onBlock: OnEncodedBlock = () => {},
): AsyncGenerator<Buffer, void, undefined> {
  checkBlockSize(blockSize);
  const { create32, h32Raw } = await xxhash();
  const content = create32(0);
  const descriptor = Buffer.from([FLG, blockMaxCode(blockSize) << 4]);
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_FRAME_MAGIC, 0);
  descriptor.copy(header, 4);
  header[6] = (h32Raw(descriptor, 0) >>> 8) & 0xff;
  yield header;

  let offset = header.length;
  /** Frames one block (a copy: `data` is refilled afterwards) and reports it. */
  function frameBlock(data: Buffer): Buffer {
    content.update(data);
    const compressed = compressBlock(data);
    const stored = compressed.length >= data.length;
    const payload = stored ? data : compressed;
    const framed = Buffer.allocUnsafe(4 + payload.length);
    const sizeWord = stored ? (data.length | LZ4_UNCOMPRESSED_BIT) >>> 0 : compressed.length;
    framed.writeUInt32LE(sizeWord, 0);
    payload.copy(framed, 4);
    onBlock(offset, sizeWord, framed.subarray(4), data);
    offset += framed.length;
    return framed;
  }
  const block = Buffer.allocUnsafe(blockSize);
  let filled = 0;
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length; ) {
      const n = Math.min(blockSize - filled, chunk.length - at);
      block.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === blockSize) {
        yield frameBlock(block);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield frameBlock(block.subarray(0, filled));

  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(0, 0); // end mark
  trailer.writeUInt32LE(content.digest() >>> 0, 4);
  yield trailer;
}

/** A packed image file and its block index. */
export interface PackedLz4 {
  length: number;
  sha256: string;
  blockIndex: BuiltBlockIndex;
}

/**
 * Compresses the file `rawPath` into an LZ4 frame file at `outPath` (written atomically) of
 * `blockSize`-byte blocks, and builds its block index.
 */
export async function packLz4File(rawPath: string, outPath: string, blockSize = DEFAULT_BLOCK_SIZE): Promise<PackedLz4> {
  checkBlockSize(blockSize);
  await mkdir(dirname(outPath), { recursive: true });
  const builder = new BlockIndexBuilder();
  const written = new DigestTap();
  const tmp = tempSibling(outPath);
  try {
    await pipeline(
      createReadStream(rawPath, { highWaterMark: 1024 * 1024 }),
      (raw: AsyncIterable<Uint8Array>) => encodeLz4Frame(raw, blockSize, (...block) => builder.add(...block)),
      (framed: AsyncIterable<Uint8Array>) => written.pass(framed),
      createWriteStream(tmp, { flags: 'wx' }),
    );
    await rename(tmp, outPath);
  } catch (err) {
    await rm(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`cannot pack ${rawPath}: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
  const image = { name: basename(outPath), ...written.digest() };
  return { length: image.length, sha256: image.sha256, blockIndex: builder.build(blockSize, image) };
}
