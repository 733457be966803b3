/**
 * A block fetched by range: cut out of the response, checked against the signed index (sha256 of
 * its compressed bytes, then of what it decodes to) and decoded. A mismatch is a
 * BlockVerificationError: the caller falls back to streaming the whole image, whose signed hash
 * then says whether the server or the index is wrong.
 */
import { UserError } from '../common/errors.js';
import type { BlockIndexView } from '../block-index/format.js';
import { Lz4BlockDecoder, Lz4BlockError } from '../install/lz4-block.js';
import { LZ4_UNCOMPRESSED_BIT } from '../install/lz4-frame.js';
import { sha256 } from './local-blocks.js';
import type { FetchRange } from './plan.js';

export class BlockVerificationError extends UserError {}

const SIZE_WORD = 4;

/**
 * Splits the bytes of a fetched range into its blocks' compressed bytes, each a view of `scratch`
 * (at least as long as any block) valid until the next is asked for: a buffer per block would be
 * garbage that outlives the young generation and piles up until a full collection.
 */
export async function* splitRange(
  range: FetchRange,
  index: BlockIndexView,
  body: AsyncIterable<Buffer>,
  imageName: string,
  scratch: Buffer,
): AsyncGenerator<{ block: number; compressed: Buffer }, void, undefined> {
  let which = 0;
  let current = scratch.subarray(0, index.compressedLength(range.blocks[0]!));
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
        if (which < range.blocks.length) current = scratch.subarray(0, index.compressedLength(range.blocks[which]!));
      }
    }
  }
  if (which < range.blocks.length) {
    throw new BlockVerificationError(`${imageName}: the server sent fewer than the ${range.end - range.start} bytes asked for at ${range.start}`);
  }
}

/** Decodes one verified block; the result stays valid until the decoder's next call. */
export function decodeFetchedBlock(decoder: Lz4BlockDecoder, index: BlockIndexView, i: number, compressed: Buffer, imageName: string): Buffer {
  const fail = (why: string): never => {
    throw new BlockVerificationError(`${imageName}: block ${i} (bytes ${index.compressedOffset(i)}+${index.compressedLength(i)}) ${why}`);
  };
  if (!sha256(compressed).equals(index.compressedSha256(i))) fail('does not match the signed block index (sha256 of the fetched bytes differs)');
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
  if (decoded.length !== index.blockLength(i) || !sha256(decoded).equals(index.blockSha256(i))) {
    fail('decodes to bytes that do not match the signed block index');
  }
  return decoded;
}
