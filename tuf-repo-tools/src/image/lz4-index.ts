/**
 * The block index of an LZ4 image made elsewhere (e.g. `lz4 -9`, Bottlerocket's own builds):
 * possible when the file is one frame of independent blocks that all decode to the same size but
 * the last, because each indexed block must decode on its own and sit at a fixed decoded offset.
 */
import type { ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { UserError } from '@updog-ts/updog/common';
import { decodeLz4Blocks, type Lz4FrameInfo } from '@updog-ts/updog/image';
import { DigestTap } from '../fs/files.js';
import { BlockIndexBuilder, PIECE_SIZE, type BuiltBlockIndex } from './block-index-builder.js';

/** A well-formed LZ4 image whose layout a block index cannot describe. */
export class NotIndexableError extends UserError {}

const SIZE_WORD = 4;
const CHECKSUM = 4;

function unequal(blockSize: number, block: number, length: number): string {
  return `its blocks decode to unequal sizes (block 0: ${blockSize} bytes, block ${block}: ${length}; only the last may be shorter)`;
}

/** Reads the LZ4 image at `path` once (streamed) and builds its block index. */
export async function indexLz4Image(path: string): Promise<BuiltBlockIndex> {
  const refuse = (why: string): never => {
    throw new NotIndexableError(`${path} cannot have a block index: ${why}`);
  };
  const builder = new BlockIndexBuilder();
  const read = new DigestTap();
  let frame: Lz4FrameInfo | undefined;
  let blockSize = 0;
  let blocksEnd = 0;
  let file: ReadStream | undefined;
  try {
    // opened before the walk starts: a stream's open error would be emitted before anyone listens
    file = (await open(path)).createReadStream();
    for await (const block of decodeLz4Blocks(read.pass(file))) {
      if (block.frame.ordinal > 0 || block.frame.offset > 0) refuse('it holds more than one frame');
      if (!block.frame.independentBlocks) refuse('its blocks are linked (lz4 -BD), so no block decodes without the ones before it');
      frame = block.frame;
      const n = builder.blockCount;
      if (n === 0) blockSize = block.data.length;
      else if (builder.lastDecodedLength !== blockSize) refuse(unequal(blockSize, n - 1, builder.lastDecodedLength));
      if (block.data.length > blockSize) refuse(unequal(blockSize, n, block.data.length));
      builder.add(block.offset, block.sizeWord, block.payload, block.data);
      blocksEnd = block.offset + SIZE_WORD + block.payload.length + (frame.blockChecksum ? CHECKSUM : 0);
    }
  } catch (err) {
    if (err instanceof NotIndexableError) throw err;
    if (err instanceof UserError || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`cannot index ${path}: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  } finally {
    file?.destroy(); // a refusal stops the walk before the end of the file
  }
  if (frame === undefined) return refuse('it decodes to no bytes');
  const image = { name: basename(path), ...read.digest() };
  if (image.length !== blocksEnd + SIZE_WORD + (frame.contentChecksum ? CHECKSUM : 0)) refuse('it holds more than one frame');
  // One block: it may be short, so its frame's block maximum is the block size.
  if (builder.blockCount === 1) blockSize = frame.blockMaxSize;
  if (blockSize === 0 || blockSize % PIECE_SIZE !== 0) refuse(`its blocks decode to ${blockSize} bytes, not a multiple of the ${PIECE_SIZE}-byte piece`);
  return builder.build(blockSize, image);
}
