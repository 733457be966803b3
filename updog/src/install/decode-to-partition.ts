/**
 * The decode half of an image install: LZ4 frames in, positioned writes into the partition out,
 * then fsync. It runs on a worker thread, or inline where no compiled worker exists (see
 * decode-stage.ts); this is the only decode path in both cases.
 */
import { decodeLz4Frames } from './lz4-frame.js';
import { PartitionWriter, type PartitionExtent, type PositionalFile } from './partition-writer.js';

export interface DecodeHooks {
  /** After each block is handed to the disk, with the image bytes written so far. */
  onBlockWritten?: (bytesWritten: number) => void;
  /** Each chunk of `compressed` once the decoder no longer needs it. */
  onInputConsumed?: (chunk: Uint8Array) => void;
}

/** Returns the bytes written once they are on stable storage; no write is in flight when it throws. */
export async function decodeToPartition(
  compressed: AsyncIterable<Uint8Array>,
  disk: PositionalFile,
  partition: PartitionExtent,
  hooks: DecodeHooks = {},
): Promise<number> {
  const writer = new PartitionWriter(disk, partition);
  try {
    for await (const block of decodeLz4Frames(compressed, hooks.onInputConsumed)) {
      await writer.write(block);
      hooks.onBlockWritten?.(writer.bytesWritten);
    }
  } catch (err) {
    await writer.settle();
    throw err;
  }
  return writer.finish();
}
