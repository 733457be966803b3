/**
 * A block fetched by range: cut out of the response, checked against the signed index (sha256 of
 * its compressed bytes, then of what it decodes to) and decoded. A mismatch is a
 * BlockVerificationError: the caller falls back to streaming the whole image, whose signed hash
 * then says whether the server or the index is wrong.
 */
import { UserError } from '../common/errors.js';
import type { IndexedBlock } from '../block-index/format.js';
import { Lz4BlockDecoder, Lz4BlockError } from '../install/lz4-block.js';
import { LZ4_UNCOMPRESSED_BIT } from '../install/lz4-frame.js';
import { sha256 } from './local-blocks.js';
import type { FetchRange } from './plan.js';

export class BlockVerificationError extends UserError {}

const SIZE_WORD = 4;

/** Splits the bytes of a fetched range into its blocks' compressed bytes (each a fresh buffer of exactly its length). */
export async function* splitRange(
  range: FetchRange,
  blocks: readonly IndexedBlock[],
  body: AsyncIterable<Buffer>,
  imageName: string,
): AsyncGenerator<{ block: number; compressed: Buffer }, void, undefined> {
  let which = 0;
  let current = Buffer.allocUnsafe(blocks[range.blocks[0]!]!.compressedLength);
  let filled = 0;
  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.length) {
      if (which >= range.blocks.length) throw new BlockVerificationError(`${imageName}: the server sent more than the ${range.end - range.start} bytes asked for at ${range.start}`);
      const n = Math.min(chunk.length - at, current.length - filled);
      chunk.copy(current, filled, at, at + n);
      filled += n;
      at += n;
      if (filled === current.length) {
        yield { block: range.blocks[which]!, compressed: current };
        which += 1;
        filled = 0;
        if (which < range.blocks.length) current = Buffer.allocUnsafe(blocks[range.blocks[which]!]!.compressedLength);
      }
    }
  }
  if (which < range.blocks.length) {
    throw new BlockVerificationError(`${imageName}: the server sent fewer than the ${range.end - range.start} bytes asked for at ${range.start}`);
  }
}

/** Decodes one verified block; the result stays valid until the decoder's next call. */
export function decodeFetchedBlock(decoder: Lz4BlockDecoder, index: number, block: IndexedBlock, compressed: Buffer, imageName: string): Buffer {
  const fail = (why: string): never => {
    throw new BlockVerificationError(`${imageName}: block ${index} (bytes ${block.compressedOffset}+${block.compressedLength}) ${why}`);
  };
  if (!sha256(compressed).equals(block.compressedSha256)) fail('does not match the signed block index (sha256 of the fetched bytes differs)');
  const word = compressed.readUInt32LE(0);
  const size = (word & ~LZ4_UNCOMPRESSED_BIT) >>> 0;
  if (size !== compressed.length - SIZE_WORD || size > decoder.input.length) fail(`has a size word of ${size} bytes`);
  compressed.copy(decoder.input, 0, SIZE_WORD);
  let decoded: Buffer;
  try {
    decoded = (word & LZ4_UNCOMPRESSED_BIT) !== 0 ? decoder.store(size, false) : decoder.decode(size, false);
  } catch (err) {
    if (!(err instanceof Lz4BlockError)) throw err;
    return fail(`does not decode as an independent LZ4 block (${err.message})`);
  }
  if (decoded.length !== block.decodedLength || !sha256(decoded).equals(block.decodedSha256)) {
    fail('decodes to bytes that do not match the signed block index');
  }
  return decoded;
}
