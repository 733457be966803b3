/**
 * Streaming LZ4 *frame* encoder for image targets (the format `lz4 -9` writes): independent
 * 4 MiB blocks, content checksum on. Blocks are compressed by lz4-napi's native block compressor
 * (lz4_flex) so `tuf-repo image pack` needs no lz4 CLI; memory stays at one block whatever the
 * image size. lz4_flex has a single (fast) compression level, so files are somewhat larger than
 * `lz4 -9` output but decode with any LZ4 frame decoder.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { compressSync } from 'lz4-napi';
import xxhash from 'xxhash-wasm';
import { UserError } from '@updog-ts/updog/common';
import { tempSibling } from '../fs/files.js';

const FRAME_MAGIC = 0x184d2204;
const BLOCK_MAX = 4 * 1024 * 1024;
/** FLG: version 01, independent blocks, no block checksums, no content size, content checksum. */
const FLG = 0b0110_0100;
/** BD: block maximum size id 7 (4 MiB). */
const BD = 7 << 4;
const UNCOMPRESSED_BIT = 0x80000000;

/** Compresses one block to raw LZ4 block format (lz4-napi prefixes the decoded size: strip it). */
function compressBlock(block: Buffer): Buffer {
  const prefixed = compressSync(block);
  if (prefixed.length < 4 || prefixed.readUInt32LE(0) !== block.length) {
    throw new Error('lz4-napi compressSync returned an unexpected layout (expected a u32 size prefix)');
  }
  return prefixed.subarray(4);
}

/** Encodes a stream of bytes as one LZ4 frame. */
export async function* encodeLz4Frame(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer, void, undefined> {
  const { create32, h32Raw } = await xxhash();
  const content = create32(0);
  const descriptor = Buffer.from([FLG, BD]);
  const header = Buffer.alloc(7);
  header.writeUInt32LE(FRAME_MAGIC, 0);
  descriptor.copy(header, 4);
  header[6] = (h32Raw(descriptor, 0) >>> 8) & 0xff;
  yield header;

  const pending: Buffer[] = [];
  let pendingLength = 0;
  function* emit(block: Buffer): Generator<Buffer> {
    content.update(block);
    const compressed = compressBlock(block);
    const size = Buffer.alloc(4);
    if (compressed.length < block.length) {
      size.writeUInt32LE(compressed.length, 0);
      yield Buffer.concat([size, compressed]);
    } else {
      size.writeUInt32LE((block.length | UNCOMPRESSED_BIT) >>> 0, 0);
      yield Buffer.concat([size, block]);
    }
  }
  for await (const chunk of source) {
    pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    pendingLength += chunk.byteLength;
    while (pendingLength >= BLOCK_MAX) {
      const all = Buffer.concat(pending, pendingLength);
      yield* emit(all.subarray(0, BLOCK_MAX));
      pending.length = 0;
      pending.push(all.subarray(BLOCK_MAX));
      pendingLength -= BLOCK_MAX;
    }
  }
  if (pendingLength > 0) yield* emit(Buffer.concat(pending, pendingLength));

  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(0, 0); // end mark
  trailer.writeUInt32LE(content.digest() >>> 0, 4);
  yield trailer;
}

/** Compresses the file `rawPath` into an LZ4 frame file at `outPath` (written atomically). */
export async function packLz4File(rawPath: string, outPath: string): Promise<void> {
  await mkdir(dirname(outPath), { recursive: true });
  const tmp = tempSibling(outPath);
  try {
    await pipeline(createReadStream(rawPath, { highWaterMark: 1024 * 1024 }), encodeLz4Frame, createWriteStream(tmp, { flags: 'wx' }));
    await rename(tmp, outPath);
  } catch (err) {
    await rm(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`cannot pack ${rawPath}: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}
