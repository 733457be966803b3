import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { PieceHasher } from '../../src/block-index/piece-hash.js';
import { XXH64_WASM_BASE64 } from '../../src/block-index/xxh64-wasm.js';
// @ts-expect-error: a plain JavaScript build script, without type declarations
import { compileWat, WASM_MODULES } from '../../scripts/build-wasm.mjs';

describe('PieceHasher (xxh64.wat)', () => {
  it('embeds xxh64.wat as compiled now', async () => {
    expect(((await compileWat(WASM_MODULES.xxh64.wat)) as Buffer).toString('base64')).toBe(XXH64_WASM_BASE64);
  });

  it('gives xxhash-wasm h64 (seed 0) of every piece of its input, whole or short, at every tail length', async () => {
    const { h64Raw } = await xxhash();
    const hasher = new PieceHasher(4096, 64 * 1024);
    const data = randomBytes(64 * 1024);
    data.copy(hasher.input);
    // lengths that end in every tail case: < 32 bytes, stripes only, 8-byte, 4-byte and 1-byte tails
    for (const length of [0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 100, 4095, 4096, 4097, 4096 * 3 + 45, 64 * 1024]) {
      const expected = [];
      for (let at = 0; at < length; at += 4096) expected.push(h64Raw(data.subarray(at, Math.min(length, at + 4096))));
      expect([...hasher.hashInput(length)], `length ${length}`).toEqual(expected);
    }
  });

  it('hashes data longer than its input chunk piece by piece, and single pieces', async () => {
    const { h64Raw } = await xxhash();
    const hasher = new PieceHasher(4096, 8192); // two pieces per chunk
    const data = randomBytes(5 * 4096 + 100);
    const out = new BigUint64Array(8);
    expect(hasher.hashPieces(data, out, 1)).toBe(6);
    const expected = [0n];
    for (let at = 0; at < data.length; at += 4096) expected.push(h64Raw(data.subarray(at, at + 4096)));
    expect([...out.subarray(0, 7)]).toEqual(expected);
    expect(hasher.hash(data.subarray(4096, 8192))).toBe(expected[2]);
  });

  it('hashes one piece at any offset of its input, whole or short', async () => {
    const { h64Raw } = await xxhash();
    const hasher = new PieceHasher(4096, 3 * 4096);
    const data = randomBytes(3 * 4096);
    hasher.input.set(data);
    for (const [offset, length] of [[0, 4096], [4096, 4096], [8192 + 1, 4095], [5000, 10]] as const) {
      expect(hasher.hashInputAt(offset, length), `${offset}+${length}`).toBe(h64Raw(data.subarray(offset, offset + length)));
    }
  });

  it('hashes a known vector: xxh64("a") = 0xd24ec4f1a98c6e5b', () => {
    const hasher = new PieceHasher(4096, 4096);
    expect(hasher.hashInput(0)).toEqual(new BigUint64Array(0));
    // from the reference implementation's test vectors
    expect(hasher.hash(Buffer.from('a'))).toBe(0xd24ec4f1a98c6e5bn);
  });
});
