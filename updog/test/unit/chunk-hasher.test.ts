import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { ChunkHasher } from '../../src/block-install/chunk-hasher.js';
import { XXH64_WASM_BASE64 } from '../../src/block-install/xxh64-wasm.js';
// @ts-expect-error: a plain JavaScript build script, without type declarations
import { compileWat, WASM_MODULES } from '../../scripts/build-wasm.mjs';

describe('ChunkHasher (xxh64.wat)', () => {
  it('embeds xxh64.wat as compiled now', async () => {
    expect(((await compileWat(WASM_MODULES.xxh64.wat)) as Buffer).toString('base64')).toBe(XXH64_WASM_BASE64);
  });

  it('gives xxhash-wasm h64 (seed 0) of every piece, whole or short, at every tail length', async () => {
    const { h64Raw } = await xxhash();
    const hasher = new ChunkHasher(64 * 1024, 4096);
    const data = randomBytes(64 * 1024);
    data.copy(hasher.input);
    // lengths that end in every tail case: < 32 bytes, stripes only, 8-byte, 4-byte and 1-byte tails
    for (const length of [0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 100, 4095, 4096, 4097, 4096 * 3 + 45, 64 * 1024]) {
      const expected = [];
      for (let at = 0; at < length; at += 4096) expected.push(h64Raw(data.subarray(at, Math.min(length, at + 4096))));
      expect([...hasher.hash(length)], `length ${length}`).toEqual(expected);
    }
  });

  it('hashes a known vector: xxh64("") = 0xef46db3751d8e999', () => {
    const hasher = new ChunkHasher(4096, 4096);
    hasher.input.write('a');
    expect(new ChunkHasher(4096, 4096).hash(0)).toEqual(new BigUint64Array(0));
    // xxh64("a") from the reference implementation's test vectors
    expect(hasher.hash(1)[0]).toBe(0xd24ec4f1a98c6e5bn);
  });
});
