/**
 * Streaming decoder for the LZ4 frame format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md),
 * the format of `lz4 -9` image files.
 *
 * Why our own frame parser: no maintained npm package decodes LZ4 *frames* as a stream.
 * `lz4-napi` decodes whole frames only (memory grows with the image) and `lz4` (node-lz4) ignores
 * the block-dependence flag, so `lz4 -BD` files come out wrong. Blocks are decoded by
 * `Lz4BlockDecoder` (see there for why not lz4-napi's block decoder), which gives linked blocks
 * the previous 64 KiB of output as history. the content checksum too; the small
 * xxh32 checksums (descriptor, optional per-block) come from xxhash-wasm.
 *
 * Memory stays flat whatever the image size: the generator is pull-based, so a slow consumer
 * stops the reads from the source, and output blocks are decoded into a fixed ring of
 * `OUTPUT_BUFFERS` windows instead of a new buffer per block.
 */
import xxhash from 'xxhash-wasm';
import { UserError } from '../common/errors.js';
import { ByteQueue } from './byte-queue.js';
import { LZ4_HISTORY, Lz4BlockDecoder, Lz4BlockError } from './lz4-block.js';

export const LZ4_FRAME_MAGIC = 0x184d2204;
const LEGACY_MAGIC = 0x184c2102;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** In a block's size word: the block is stored uncompressed. */
export const LZ4_UNCOMPRESSED_BIT = 0x80000000;
/**
 * Output ring size. A yielded block stays intact until the consumer asks for the
 * `OUTPUT_BUFFERS`-th next block: enough for `PartitionWriter`, which keeps one write in flight
 * and waits for it before taking the next block.
 */
export const OUTPUT_BUFFERS = 2;

export class Lz4FrameError extends UserError {}

/** What a frame's descriptor says. */
export interface Lz4FrameDescriptor {
  independentBlocks: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  contentSize: bigint | undefined;
  blockMaxSize: number;
}

type Hasher = Awaited<ReturnType<typeof xxhash>>;
let hasherPromise: Promise<Hasher> | undefined;
function xxh(): Promise<Hasher> {
  hasherPromise ??= xxhash();
  return hasherPromise;
}

/** Pull-based reader over the source chunks that tracks its input offset for error messages. */
class FrameReader {
  private readonly queue: ByteQueue;
  private readonly input: AsyncIterator<Uint8Array>;
  private sourceDone = false;
  /** Input offset of the next unread byte. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>, onInputConsumed?: (chunk: Uint8Array) => void) {
    this.input = source[Symbol.asyncIterator]();
    this.queue = new ByteQueue(onInputConsumed);
  }

  /** Pulls from the source until `n` bytes are queued; false if the source ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.queue.length < n && !this.sourceDone) {
      const next = await this.input.next();
      if (next.done === true) this.sourceDone = true;
      else this.queue.push(next.value);
    }
    return this.queue.length >= n;
  }

  async take(n: number, what: string): Promise<Buffer> {
    await this.need(n, what);
    this.offset += n;
    return this.queue.take(n);
  }

  async takeInto(target: Buffer, at: number, n: number, what: string): Promise<Buffer> {
    await this.need(n, what);
    this.offset += n;
    return this.queue.takeInto(target, at, n);
  }

  fail(message: string): never {
    throw new Lz4FrameError(`corrupt LZ4 stream at byte ${this.offset}: ${message}`);
  }

  private async need(n: number, what: string): Promise<void> {
    if (!(await this.fill(n))) {
      throw new Lz4FrameError(`LZ4 stream truncated: input ends at byte ${this.offset + this.queue.length} inside the ${what}`);
    }
  }
}

/** Where a frame sits in the input and what its descriptor says. */
export interface Lz4FrameInfo extends Lz4FrameDescriptor {
  /** 0 for the first LZ4 frame of the input, 1 for the next, ... (skippable frames not counted). */
  ordinal: number;
  /** Input offset of the frame's magic number. */
  offset: number;
}

/** One data block of a frame, as `decodeLz4Blocks` yields it. */
export interface Lz4Block {
  frame: Lz4FrameInfo;
  /** Input offset of the block's 4-byte size word. */
  offset: number;
  /** The size word (high bit: stored uncompressed). */
  sizeWord: number;
  /** The block's bytes after the size word (its checksum, if any, excluded). */
  payload: Buffer;
  /** What the block decodes to. */
  data: Buffer;
}

/**
 * Decodes one or more concatenated LZ4 frames (skippable frames are skipped) and yields the
 * decompressed bytes block by block. A yielded buffer is reused `OUTPUT_BUFFERS` blocks later:
 * copy it to keep it longer. Throws `Lz4FrameError` on any malformed input, on a
 * checksum mismatch, and when the input ends early or holds trailing garbage.
 * `onInputConsumed` gets back each source chunk once the decoder no longer needs it (for reuse).
 */
export async function* decodeLz4Frames(
  source: AsyncIterable<Uint8Array>,
  onInputConsumed?: (chunk: Uint8Array) => void,
): AsyncGenerator<Buffer, void, undefined> {
  for await (const block of decodeLz4Blocks(source, onInputConsumed)) if (block.data.length > 0) yield block.data;
}

/**
 * The block-level walk under `decodeLz4Frames`: every data block with where it sits in the input,
 * checked as `decodeLz4Frames` checks it. `payload` is valid until the next block is asked for,
 * `data` as long as a `decodeLz4Frames` output.
 */
export async function* decodeLz4Blocks(
  source: AsyncIterable<Uint8Array>,
  onInputConsumed?: (chunk: Uint8Array) => void,
): AsyncGenerator<Lz4Block, void, undefined> {
  const hasher = await xxh();
  const reader = new FrameReader(source, onInputConsumed);
  let frames = 0;
  while (await reader.fill(1)) {
    if (!(await reader.fill(4))) reader.fail('trailing bytes after the last frame');
    const offset = reader.offset;
    const magic = (await reader.take(4, 'magic number')).readUInt32LE(0);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      const size = (await reader.take(4, 'skippable frame size')).readUInt32LE(0);
      for (let left = size; left > 0; ) {
        const chunk = Math.min(left, LZ4_HISTORY);
        await reader.take(chunk, 'skippable frame');
        left -= chunk;
      }
      continue;
    }
    if (magic === LEGACY_MAGIC) reader.fail('legacy LZ4 format (lz4 -l) is not supported; use the frame format');
    if (magic !== LZ4_FRAME_MAGIC) reader.fail(`not an LZ4 frame (magic 0x${magic.toString(16)})`);
    const descriptor = await readDescriptor(reader, hasher);
    yield* decodeBlocks({ ordinal: frames, offset, ...descriptor }, reader, hasher);
    frames += 1;
  }
  if (frames === 0) throw new Lz4FrameError('LZ4 stream holds no frame (empty input)');
}

async function readDescriptor(reader: FrameReader, hasher: Hasher): Promise<Lz4FrameDescriptor> {
  const head = Buffer.from(await reader.take(2, 'frame descriptor')); // a copy: used after the next take
  const flg = head[0]!;
  const bd = head[1]!;
  if (flg >> 6 !== 1) reader.fail(`unsupported frame version ${flg >> 6}`);
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) reader.fail('reserved bits set in the frame descriptor');
  const hasContentSize = (flg & 0x08) !== 0;
  const hasDictId = (flg & 0x01) !== 0;
  const blockSizeCode = (bd >> 4) & 0x07;
  if (blockSizeCode < 4) reader.fail(`invalid block maximum size code ${blockSizeCode}`);
  const extra = await reader.take((hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0) + 1, 'frame descriptor');
  const descriptorBytes = Buffer.concat([head, extra.subarray(0, extra.length - 1)]);
  const expectedHc = (hasher.h32Raw(descriptorBytes, 0) >>> 8) & 0xff;
  if (extra[extra.length - 1] !== expectedHc) reader.fail('frame descriptor checksum mismatch');
  if (hasDictId) reader.fail('frame needs an external dictionary, which images never use');
  return {
    independentBlocks: (flg & 0x20) !== 0,
    blockChecksum: (flg & 0x10) !== 0,
    contentChecksum: (flg & 0x04) !== 0,
    contentSize: hasContentSize ? extra.readBigUInt64LE(0) : undefined,
    blockMaxSize: 1 << (8 + 2 * blockSizeCode),
  };
}

async function* decodeBlocks(frame: Lz4FrameInfo, reader: FrameReader, hasher: Hasher): AsyncGenerator<Lz4Block, void, undefined> {
  const decoder = new Lz4BlockDecoder(frame.blockMaxSize, OUTPUT_BUFFERS, frame.contentChecksum);
  let produced = 0n;
  for (;;) {
    const offset = reader.offset;
    const word = (await reader.take(4, 'block header')).readUInt32LE(0);
    if (word === 0) break; // EndMark
    const size = (word & ~LZ4_UNCOMPRESSED_BIT) >>> 0;
    const stored = (word & LZ4_UNCOMPRESSED_BIT) !== 0;
    if (size > frame.blockMaxSize) reader.fail(`block of ${size} bytes exceeds the frame's maximum ${frame.blockMaxSize}`);
    await reader.takeInto(decoder.input, 0, size, 'block');
    if (frame.blockChecksum) {
      const expected = (await reader.take(4, 'block checksum')).readUInt32LE(0);
      if (hasher.h32Raw(decoder.input.subarray(0, size), 0) >>> 0 !== expected) reader.fail('block checksum mismatch');
    }
    const linked = !frame.independentBlocks;
    let out: Buffer;
    if (stored) {
      out = decoder.store(size, linked);
    } else {
      try {
        out = decoder.decode(size, linked);
      } catch (err) {
        if (!(err instanceof Lz4BlockError)) throw err;
        reader.fail(`block does not decode (${err.message})`);
      }
    }
    produced += BigInt(out.length);
    yield { frame, offset, sizeWord: word, payload: decoder.input.subarray(0, size), data: out };
  }
  if (frame.contentSize !== undefined && produced !== frame.contentSize) {
    reader.fail(`frame declares ${frame.contentSize} content bytes but decodes to ${produced}`);
  }
  if (frame.contentChecksum) {
    const expected = (await reader.take(4, 'content checksum')).readUInt32LE(0);
    const actual = decoder.contentChecksum();
    if (actual !== expected) {
      reader.fail(`content checksum mismatch (frame says ${hex32(expected)}, content hashes to ${hex32(actual)})`);
    }
  }
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
