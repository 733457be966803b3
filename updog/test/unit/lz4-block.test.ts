import { describe, expect, it } from 'vitest';
import { decodeLz4Block, Lz4BlockError } from '../../src/install/lz4-block.js';

/** A hand-assembled block: token, literals, then a match (offset, length) or the end. */
const block = (...bytes: number[]): Buffer => Buffer.from(bytes);

describe('decodeLz4Block', () => {
  it('decodes literals, a short match and a run-length (offset 1) match', () => {
    // "abc" + match(offset 3, len 4) + "x" + match(offset 1, len 40) + "!"
    const src = block(
      0x30, 0x61, 0x62, 0x63, 0x03, 0x00, // 3 literals, match len 0+4, offset 3
      0x1f, 0x78, 0x01, 0x00, 0x15, // 1 literal, match len 15+21+4=40, offset 1
      0x10, 0x21, // last sequence: 1 literal
    );
    const out = Buffer.alloc(64);
    const end = decodeLz4Block(src, out, 0);
    expect(out.subarray(0, end).toString()).toBe(`abcabca${'x'.repeat(41)}!`);
  });

  it('long overlapping matches repeat their pattern', () => {
    // "0123456789" then match(offset 10, len 1000)
    const src = block(0xaf, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x0a, 0x00, 0xff, 0xff, 0xff, 0xc4, 0x00);
    // match length = 15 + 255*3 + 196 + 4 = 980; the last byte is a final empty-literal sequence
    const out = Buffer.alloc(2000);
    const end = decodeLz4Block(src, out, 0);
    expect(end).toBe(10 + 980);
    expect(out.subarray(0, end).toString()).toBe('0123456789'.repeat(99));
  });

  it('matches may reach into the history before outStart, but not before the buffer', () => {
    const out = Buffer.alloc(32);
    out.write('hist', 0);
    const end = decodeLz4Block(block(0x00, 0x04, 0x00, 0x00), out, 4); // match offset 4 len 4, then empty end
    expect(out.subarray(4, end).toString()).toBe('hist');
    expect(() => decodeLz4Block(block(0x00, 0x05, 0x00, 0x00), Buffer.alloc(32), 4)).toThrow(/1 bytes before the available history/);
  });

  it('refuses malformed blocks', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [block(), /ends inside a sequence/],
      [block(0x50, 0x61), /literals run past the end/],
      [block(0x10, 0x61, 0x01), /ends inside a match offset/],
      [block(0x10, 0x61, 0x00, 0x00), /match offset 0/],
      [block(0x1f, 0x61, 0x01, 0x00), /ends inside a match length/],
      [block(0x1f, 0x61, 0x01, 0x00, 0xff, 0xff, 0x10), /output exceeds the block maximum size/],
    ];
    for (const [src, message] of cases) {
      expect(() => decodeLz4Block(src, Buffer.alloc(300), 0)).toThrow(Lz4BlockError);
      expect(() => decodeLz4Block(src, Buffer.alloc(300), 0)).toThrow(message);
    }
  });
});
