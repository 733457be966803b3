import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLz4Blocks, decodeLz4Frames, Lz4FrameError } from '../../src/install/lz4-frame.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lz4-frame-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic data mixing incompressible runs, zeros and text with repeats across blocks. */
function sampleData(size: number): Buffer {
  const buf = Buffer.alloc(size);
  let s = 0x9e3779b9;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  const phrase = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(8));
  for (let off = 0; off < size; ) {
    const n = Math.min(size - off, 1000 + (next() % 30000));
    const kind = next() % 3;
    if (kind === 0) for (let i = 0; i < n; i++) buf[off + i] = next() & 0xff;
    else if (kind === 1) for (let i = 0; i < n; i += phrase.length) phrase.copy(buf, off + i, 0, Math.min(phrase.length, n - i));
    off += n; // kind 2: zeros
  }
  return buf;
}

/** Compresses `data` with the real lz4 CLI and the given flags. */
function lz4(data: Buffer, flags: string[], name: string): Buffer {
  const input = join(dir, `${name}.bin`);
  const output = join(dir, `${name}.lz4`);
  writeFileSync(input, data);
  execFileSync('lz4', ['-q', '-f', ...flags, input, output]);
  return readFileSync(output);
}

/** Feeds `bytes` to the decoder in chunks of `chunk` bytes and returns the decoded bytes. */
async function decode(bytes: Buffer, chunk = 65536): Promise<Buffer> {
  async function* source(): AsyncGenerator<Buffer> {
    for (let off = 0; off < bytes.length; off += chunk) yield bytes.subarray(off, off + chunk);
  }
  const parts: Buffer[] = [];
  for await (const part of decodeLz4Frames(source())) parts.push(Buffer.from(part)); // the decoder reuses its buffers
  return Buffer.concat(parts);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('decodeLz4Frames against the lz4 CLI', () => {
  const data = sampleData(9 * 1024 * 1024 + 12345);
  const cases: Array<[string, string[]]> = [
    ['lz4 -9 (4 MiB independent blocks, content checksum)', ['-9']],
    ['lz4 -9 -BD (linked blocks)', ['-9', '-BD']],
    ['lz4 -9 -B4 -BD (64 KiB linked blocks: matches reach into earlier blocks)', ['-9', '-B4', '-BD']],
    ['lz4 -9 --no-frame-crc', ['-9', '--no-frame-crc']],
    ['lz4 -1 -B5 -BX --content-size (block checksums, content size)', ['-1', '-B5', '-BX', '--content-size']],
    ['lz4 -9 -B6 -BD -BX', ['-9', '-B6', '-BD', '-BX']],
  ];
  it.each(cases)('%s decodes to the original bytes', async (_label, flags) => {
    const compressed = lz4(data, flags, flags.join(''));
    const out = await decode(compressed);
    expect(out.length).toBe(data.length);
    expect(sha(out)).toBe(sha(data));
  });

  it('decodes whatever the chunking of the input (1 byte, odd sizes)', async () => {
    const small = data.subarray(0, 200_000);
    const compressed = lz4(small, ['-9', '-B4', '-BD', '-BX'], 'chunking');
    for (const chunk of [1, 7, 4099]) expect(sha(await decode(compressed, chunk))).toBe(sha(small));
  });

  it('keeps incompressible blocks stored uncompressed and decodes them', async () => {
    // deterministic incompressible bytes: sha256 in counter mode
    const random = Buffer.concat(Array.from({ length: 9375 }, (_, i) => createHash('sha256').update(String(i)).digest()));
    const compressed = lz4(random, ['-9', '-B4'], 'random');
    // a stored block has the high bit of its size word set
    expect(compressed.readUInt32LE(7) >>> 31).toBe(1);
    expect(sha(await decode(compressed))).toBe(sha(random));
  });

  it('decodes concatenated frames and skips skippable frames', async () => {
    const a = lz4(data.subarray(0, 100_000), ['-9'], 'a');
    const b = lz4(data.subarray(100_000, 300_000), ['-9', '-BD'], 'b');
    const skippable = Buffer.alloc(8 + 10, 0xee);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(10, 4);
    const out = await decode(Buffer.concat([a, skippable, b]));
    expect(sha(out)).toBe(sha(data.subarray(0, 300_000)));
  });

  it('decodes an empty file compressed by lz4 to nothing', async () => {
    expect((await decode(lz4(Buffer.alloc(0), ['-9'], 'empty'))).length).toBe(0);
  });
});

describe('decodeLz4Blocks', () => {
  /** Every block of `bytes` as plain values (the walker reuses its buffers). */
  async function walk(bytes: Buffer): Promise<{ ordinal: number; frameOffset: number; offset: number; sizeWord: number; payload: Buffer; data: Buffer }[]> {
    async function* source(): AsyncGenerator<Buffer> {
      for (let off = 0; off < bytes.length; off += 100_000) yield bytes.subarray(off, off + 100_000);
    }
    const out = [];
    for await (const b of decodeLz4Blocks(source())) {
      out.push({ ordinal: b.frame.ordinal, frameOffset: b.frame.offset, offset: b.offset, sizeWord: b.sizeWord, payload: Buffer.from(b.payload), data: Buffer.from(b.data) });
    }
    return out;
  }

  it('gives each block of an lz4 -BX file its place: size word, payload, checksum skipped between blocks', async () => {
    const data = sampleData(300_000);
    const file = lz4(data, ['-9', '-B4', '-BX'], 'walk');
    const blocks = await walk(file);
    expect(blocks.map((b) => b.data.length)).toEqual([65536, 65536, 65536, 65536, 37856]);
    expect(blocks[0]!.offset).toBe(7); // after magic, FLG, BD, header checksum
    for (const [i, b] of blocks.entries()) {
      expect(file.readUInt32LE(b.offset)).toBe(b.sizeWord);
      expect(b.payload.equals(file.subarray(b.offset + 4, b.offset + 4 + b.payload.length))).toBe(true);
      expect(b.payload.length).toBe((b.sizeWord & 0x7fffffff) >>> 0);
      // the next block starts after this one's 4-byte block checksum
      const next = blocks[i + 1]?.offset ?? file.length - 8; // end mark and content checksum
      expect(next).toBe(b.offset + 4 + b.payload.length + 4);
    }
    expect(sha(Buffer.concat(blocks.map((b) => b.data)))).toBe(sha(data));
  });

  it('numbers the frames of concatenated input and gives their offsets', async () => {
    const a = lz4(sampleData(10_000), ['-9'], 'walk-a');
    const b = lz4(sampleData(20_000), ['-9', '-BD'], 'walk-b');
    const blocks = await walk(Buffer.concat([a, b]));
    expect(blocks.map((x) => [x.ordinal, x.frameOffset, x.offset])).toEqual([
      [0, 0, 7],
      [1, a.length, a.length + 7],
    ]);
  });
});

describe('decodeLz4Frames refuses bad input', () => {
  const data = sampleData(600_000);
  let good: Buffer;
  let withBlockSums: Buffer;
  beforeAll(() => {
    good = lz4(data, ['-9', '-B4'], 'bad-base');
    withBlockSums = lz4(data, ['-9', '-B4', '-BX'], 'bad-bx');
  });
  const refuse = async (bytes: Buffer, message: RegExp): Promise<void> => {
    const err = await decode(bytes).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Lz4FrameError);
    expect((err as Error).message).toMatch(message);
  };

  it('a flipped content byte fails the content checksum', async () => {
    // flip a literal byte late in the first block's data: still decodes, but to other content
    const bytes = Buffer.from(good);
    const firstBlockSize = bytes.readUInt32LE(7) & 0x7fffffff;
    // search backwards for a position that still decodes (a literal), so the checksum is what catches it
    let caught: Error | undefined;
    for (let pos = 11 + firstBlockSize - 20; pos > 11 && caught === undefined; pos -= 97) {
      const copy = Buffer.from(bytes);
      copy[pos] = copy[pos]! ^ 0x01;
      const err = await decode(copy).then(
        () => new Error('decoded without error'),
        (e: unknown) => e as Error,
      );
      if (/content checksum mismatch/.test(err.message)) caught = err;
    }
    expect(caught).toBeInstanceOf(Lz4FrameError);
  });

  it('a flipped byte fails the block checksum when blocks carry one', async () => {
    const bytes = Buffer.from(withBlockSums);
    bytes[20] = bytes[20]! ^ 0xff;
    await refuse(bytes, /block checksum mismatch/);
  });

  it('truncated input', async () => {
    await refuse(good.subarray(0, good.length - 1), /truncated.*content checksum/);
    await refuse(good.subarray(0, 1000), /truncated.*inside the block/);
    await refuse(good.subarray(0, 5), /truncated.*frame descriptor/);
  });

  it('trailing garbage, wrong magic, empty input, bad descriptor checksum', async () => {
    await refuse(Buffer.concat([good, Buffer.from([1, 2])]), /trailing bytes/);
    await refuse(Buffer.concat([good, Buffer.from('garbage!')]), /not an LZ4 frame/);
    await refuse(Buffer.from('plain text, not lz4'), /not an LZ4 frame/);
    await refuse(Buffer.alloc(0), /no frame/);
    const badHc = Buffer.from(good);
    badHc[6] = badHc[6]! ^ 0x10;
    await refuse(badHc, /descriptor checksum mismatch/);
  });

  it('a block that does not decode', async () => {
    // a hand-made frame whose only block is a match with offset 0 (never valid)
    const frame = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 3, 0, 0, 0, 0x0f, 0, 0, 0, 0, 0, 0]);
    await refuse(frame, /block does not decode/);
  });

  it('a block larger than the declared maximum', async () => {
    const frame = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0x01, 0x00, 0x01, 0x00]);
    await refuse(frame, /exceeds the frame's maximum 65536/);
  });
});
