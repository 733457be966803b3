import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { Lz4BlockDecoder, Lz4BlockError } from '../../src/install/lz4-block.js';
import { LZ4_BLOCK_WASM_BASE64 } from '../../src/install/lz4-block-wasm.js';
// @ts-expect-error: a plain JavaScript build script, without type declarations
import { compileWat, WASM_MODULES } from '../../scripts/build-wasm.mjs';

/** A hand-assembled block: token, literals, then a match (offset, length) or the end. */
const block = (...bytes: number[]): Buffer => Buffer.from(bytes);

/** Copies `src` into the decoder's input slot and decodes it. */
function decode(decoder: Lz4BlockDecoder, src: Buffer, linked = false): string {
  src.copy(decoder.input);
  return decoder.decode(src.length, linked).toString('latin1');
}

describe('Lz4BlockDecoder', () => {
  it('embeds lz4-block.wat as compiled now', async () => {
    const compiled = (await compileWat(WASM_MODULES.lz4Block.wat)) as Buffer;
    expect(compiled.toString('base64')).toBe(LZ4_BLOCK_WASM_BASE64);
  });

  it('decodes literals, a short match and a run-length (offset 1) match', () => {
    // "abc" + match(offset 3, len 4) + "x" + match(offset 1, len 40) + "!"
    const src = block(
      0x30, 0x61, 0x62, 0x63, 0x03, 0x00, // 3 literals, match len 0+4, offset 3
      0x1f, 0x78, 0x01, 0x00, 0x15, // 1 literal, match len 15+21+4=40, offset 1
      0x10, 0x21, // last sequence: 1 literal
    );
    expect(decode(new Lz4BlockDecoder(64, 2), src)).toBe(`abcabca${'x'.repeat(41)}!`);
  });

  it('long overlapping matches repeat their pattern, for short and long patterns', () => {
    // "0123456789" then match(offset 10, len 980), then a final empty-literal sequence
    const src = block(0xaf, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x0a, 0x00, 0xff, 0xff, 0xff, 0xc4, 0x00);
    expect(decode(new Lz4BlockDecoder(2000, 2), src)).toBe('0123456789'.repeat(99));
    // 20 literals "abcdefghijklmnopqrst", then match(offset 20, len 100): 16-byte chunks of an overlapping copy
    const letters = Buffer.from('abcdefghijklmnopqrst');
    const long = Buffer.concat([block(0xff, 0x05), letters, block(0x14, 0x00, 0x51, 0x00)]);
    expect(decode(new Lz4BlockDecoder(200, 2), long)).toBe('abcdefghijklmnopqrst'.repeat(6));
  });

  it('long literal runs and distant matches are copied exactly', () => {
    const text = Buffer.from(Array.from({ length: 300 }, (_, i) => 32 + ((i * 7) % 90)));
    // token: 300 literals (15 + 255 + 30), match(offset 300, len 15 + 21 + 4); then 2 literals
    const src = Buffer.concat([block(0xff, 0xff, 0x1e), text, block(0x2c, 0x01, 0x15), block(0x20, 0x41, 0x42)]);
    const expected = Buffer.concat([text, text.subarray(0, 40), Buffer.from('AB')]).toString('latin1');
    expect(decode(new Lz4BlockDecoder(400, 2), src)).toBe(expected);
  });

  it('outputs stay intact until as many more blocks as there are windows are decoded', () => {
    const decoder = new Lz4BlockDecoder(16, 2);
    decoder.input.write('first');
    const first = decoder.store(5, false);
    const second = decode(decoder, block(0x60, ...Buffer.from('second')));
    expect([first.toString(), second]).toEqual(['first', 'second']);
  });

  it('a linked block may reach into the previous output, an independent block may not', () => {
    const decoder = new Lz4BlockDecoder(32, 2);
    expect(decode(decoder, block(0x40, ...Buffer.from('hist')))).toBe('hist');
    // match offset 4 len 4, then an empty last sequence
    expect(decode(decoder, block(0x00, 0x04, 0x00, 0x00), true)).toBe('hist');
    expect(decode(decoder, block(0x00, 0x08, 0x00, 0x00), true)).toBe('hist'); // history spans both blocks
    expect(() => decode(decoder, block(0x00, 0x04, 0x00, 0x00), false)).toThrow(/match reaches before the available history/);
    expect(() => decode(decoder, block(0x00, 0x0d, 0x00, 0x00), true)).toThrow(/match reaches before the available history/);
  });

  it('refuses malformed blocks', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [block(), /ends inside a sequence/],
      [block(0xf0), /ends inside a literal length/],
      [block(0x50, 0x61), /literals run past the end/],
      [block(0x10, 0x61, 0x01), /ends inside a match offset/],
      [block(0x10, 0x61, 0x00, 0x00), /match offset 0/],
      [block(0x1f, 0x61, 0x01, 0x00), /ends inside a match length/],
      [block(0x1f, 0x61, 0x01, 0x00, 0xff, 0xff, 0x10), /output exceeds the block maximum size/],
      [block(0xf0, 0xff, 0x10), /literals run past the end/],
    ];
    for (const [src, message] of cases) {
      const decoder = new Lz4BlockDecoder(300, 2);
      expect(() => decode(decoder, src)).toThrow(Lz4BlockError);
      expect(() => decode(decoder, src)).toThrow(message);
    }
    // 300 literals do not fit a 256-byte block
    const tooLong = Buffer.concat([block(0xff, 0xff, 0x1e), Buffer.alloc(300, 0x61)]);
    expect(() => decode(new Lz4BlockDecoder(256, 2), tooLong)).toThrow(/output exceeds the block maximum size/);
  });

  it('hashes its output with xxHash32 across blocks of any size, as xxhash-wasm does', async () => {
    const { h32Raw } = await xxhash();
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37 + (i >> 3)) & 0xff));
    for (const sizes of [[], [1], [15], [16], [17], [3, 5, 8, 1], [15, 1, 16, 33, 300], [64, 0, 7, 13, 16, 900]]) {
      const decoder = new Lz4BlockDecoder(1000, 2, true);
      let at = 0;
      for (const size of sizes) {
        data.copy(decoder.input, 0, at, at + size);
        decoder.store(size, false);
        at += size;
      }
      expect(decoder.contentChecksum()).toBe(h32Raw(data.subarray(0, at), 0) >>> 0);
    }
    expect(new Lz4BlockDecoder(16, 2, true).contentChecksum()).toBe(0x02cc5d05); // xxh32 of nothing
  });
});
