/**
 * Block indexes made by tuf-repo: packing at each block size, and indexing images made by the
 * real lz4 CLI. Every index is decoded the way updog decodes it and checked against the file:
 * each block sliced out of the .lz4 by its offsets hashes to its record and decodes on its own.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import type { BlockIndex } from '@updog-ts/updog/image';
import { indexLz4Image, NotIndexableError } from '../src/image/lz4-index.js';
import { blockMaxCode, checkBlockSize, DEFAULT_BLOCK_SIZE } from '../src/image/lz4-pack.js';
import { packImage } from '../src/image/pack.js';
import { tufRepo, tufRepoOk, useTempDirs } from './helpers.js';
import { decodeIndexOf, lz4Cli, lz4Run, mixedData, sha256 } from './lz4-helpers.js';

const tempDir = useTempDirs();
const MiB = 1024 * 1024;

/**
 * A frame of the indexed blocks in reverse order, with no checksums: `lz4 -d` decodes it to the
 * blocks' data reversed only if every slice is a whole block that needs no other block.
 */
async function reversedFrame(file: Buffer, index: BlockIndex): Promise<Buffer> {
  const { h32Raw } = await xxhash();
  const descriptor = Buffer.from([0x60, blockMaxCode(index.blockSize) << 4]);
  const header = Buffer.from([0x04, 0x22, 0x4d, 0x18, ...descriptor, (h32Raw(descriptor, 0) >>> 8) & 0xff]);
  const slices = index.blocks.map((b) => file.subarray(b.compressedOffset, b.compressedOffset + b.compressedLength)).reverse();
  return Buffer.concat([header, ...slices, Buffer.alloc(4)]);
}

/** Checks `index` against the image `file` and its decoded bytes `data` record by record. */
async function expectIndexDescribes(dir: string, index: BlockIndex, file: Buffer, data: Buffer): Promise<void> {
  expect(index.decodedLength).toBe(data.length);
  expect(index.blocks).toHaveLength(Math.ceil(data.length / index.blockSize));
  for (const [i, b] of index.blocks.entries()) {
    expect(b.decodedOffset).toBe(i * index.blockSize);
    expect(b.decodedLength).toBe(Math.min(index.blockSize, data.length - b.decodedOffset));
    expect(b.decodedSha256).toEqual(sha256(data.subarray(b.decodedOffset, b.decodedOffset + b.decodedLength)));
    const slice = file.subarray(b.compressedOffset, b.compressedOffset + b.compressedLength);
    expect(b.compressedSha256).toEqual(sha256(slice));
    expect((slice.readUInt32LE(0) & 0x7fffffff) + 4).toBe(b.compressedLength); // the slice starts at a size word
  }
  await writeFile(join(dir, 'reversed.lz4'), await reversedFrame(file, index));
  const reversed = index.blocks.map((b) => data.subarray(b.decodedOffset, b.decodedOffset + b.decodedLength)).reverse();
  expect(sha256(await lz4Cli(join(dir, 'reversed.lz4')))).toEqual(sha256(Buffer.concat(reversed)));
  // piece hashes: xxh64 of each 4 KiB piece of the decoded image
  const { h64Raw } = await xxhash();
  expect(index.pieceHashes).toHaveLength(Math.ceil(data.length / 4096));
  for (const p of [0, 1, index.pieceHashes.length - 1]) expect(index.pieceHashes[p]).toBe(h64Raw(data.subarray(p * 4096, (p + 1) * 4096)));
  expect(new Set(index.pieceHashes).size).toBeGreaterThan(1);
}

describe('packing with a block size', () => {
  it('writes the smallest BD code that holds the block size, decodes byte-identical with lz4 -d, and indexes every block', async () => {
    const dir = await tempDir();
    const data = mixedData();
    await writeFile(join(dir, 'raw'), data);
    const cases: [number, number, number][] = [
      // block size, BD byte, blocks
      [64 * 1024, 0x40, 145],
      [64 * 1024 + 4096, 0x50, 136],
      [MiB, 0x60, 10],
      [4 * MiB, 0x70, 3],
    ];
    for (const [blockSize, bd, blocks] of cases) {
      const packed = await packImage(join(dir, 'raw'), join(dir, `${blockSize}.lz4`), blockSize);
      const file = await readFile(packed.path);
      expect([...file.subarray(4, 6)], `${blockSize}`).toEqual([0x64, bd]);
      expect(await lz4Run('-v', '--list', packed.path)).toMatch(new RegExp(`B${bd >> 4}I\\s+XXH32`));
      expect(sha256(await lz4Cli(packed.path)), `${blockSize} via lz4 -d`).toEqual(sha256(data));
      expect(packed).toMatchObject({ length: file.length, sha256: sha256(file).toString('hex'), blockIndex: { blockSize, blockCount: blocks } });
      const index = decodeIndexOf(packed.blockIndex.bytes, file);
      expect(index.blockSize).toBe(blockSize);
      expect(index.blocks[0]!.compressedOffset).toBe(7);
      await expectIndexDescribes(dir, index, file, data);
    }
    // the default, chosen by measurement (bench/BLOCK-SIZE.md)
    expect(DEFAULT_BLOCK_SIZE).toBe(64 * 1024);
  });

  it('indexes an empty image as no blocks', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'empty'), Buffer.alloc(0));
    const packed = await packImage(join(dir, 'empty'), join(dir, 'empty.lz4'));
    const index = decodeIndexOf(packed.blockIndex.bytes, await readFile(packed.path));
    expect(index).toMatchObject({ blockSize: DEFAULT_BLOCK_SIZE, decodedLength: 0, blocks: [] });
  });

  it('refuses block sizes outside 64 KiB..4 MiB or not a whole number of 4 KiB pieces', async () => {
    for (const size of [65536 - 4096, 4 * MiB + 4096, 65536 + 512, 1.5]) {
      expect(() => checkBlockSize(size)).toThrow(`block size ${size} must be a multiple of 4096 from 65536 (64 KiB) to 4194304 (4 MiB)`);
    }
    const dir = await tempDir();
    for (const part of ['boot', 'root', 'hash']) await writeFile(join(dir, part), Buffer.alloc(300_000, part));
    const args = ['image', 'pack', '--boot', join(dir, 'boot'), '--root', join(dir, 'root'), '--hash', join(dir, 'hash'),
      '--variant', 'v', '--arch', 'x86_64', '--version', '1.0.0', '--build', 'b', '--out-dir', join(dir, 'out')];
    const bad = await tufRepo(...args, '--block-size', '100000');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toBe(
      "error: option '--block-size <size>' argument '100000' is invalid. block size 100000 must be a multiple of 4096 from 65536 (64 KiB) to 4194304 (4 MiB)\n",
    );
    expect((await tufRepo(...args, '--block-size', '1M')).stderr).toMatch(/argument '1M' is invalid\. expected bytes, or a number with KiB or MiB/);

    const out = JSON.parse(await tufRepoOk(...args, '--block-size', '64KiB')) as Record<string, { path: string; blockIndex: Record<string, unknown> }>;
    const root = await readFile(out.root!.path);
    const written = await readFile(join(dir, 'out', 'bottlerocket-v-x86_64-1.0.0-b-root.ext4.lz4.blockindex'));
    expect(out.root!.blockIndex).toEqual({
      name: 'bottlerocket-v-x86_64-1.0.0-b-root.ext4.lz4.blockindex',
      path: join(dir, 'out', 'bottlerocket-v-x86_64-1.0.0-b-root.ext4.lz4.blockindex'),
      length: written.length,
      sha256: sha256(written).toString('hex'),
      blockSize: 65536,
      blocks: 5,
    });
    await expectIndexDescribes(dir, decodeIndexOf(written, root), root, Buffer.alloc(300_000, 'root'));
  });
});

describe('tuf-repo image index (images made elsewhere)', () => {
  it('indexes lz4 -9 (4 MiB blocks) and lz4 -B4 -BX (64 KiB blocks with block checksums) images', async () => {
    const dir = await tempDir();
    const data = mixedData();
    await writeFile(join(dir, 'raw'), data);
    for (const [flags, blockSize, blocks] of [[['-9'], 4 * MiB, 3], [['-9', '-B4', '-BX'], 65536, 145]] as const) {
      const image = join(dir, `raw${flags.join('')}.lz4`);
      await lz4Run('-q', '-f', ...flags, join(dir, 'raw'), image);
      const out = JSON.parse(await tufRepoOk('image', 'index', image)) as Record<string, unknown>;
      const written = await readFile(`${image}.blockindex`);
      expect(out).toEqual({ path: `${image}.blockindex`, length: written.length, sha256: sha256(written).toString('hex'), blockSize, blocks });
      const file = await readFile(image);
      const index = decodeIndexOf(written, file);
      await expectIndexDescribes(dir, index, file, data);
      if (flags.includes('-BX')) {
        // the 4-byte block checksum sits between blocks, outside the indexed slices
        expect(index.blocks[1]!.compressedOffset).toBe(index.blocks[0]!.compressedOffset + index.blocks[0]!.compressedLength + 4);
      }
    }
  });

  it('gives a one-block image its frame block maximum as block size, and writes -o', async () => {
    const dir = await tempDir();
    const data = mixedData().subarray(0, 100_000);
    await writeFile(join(dir, 'raw'), data);
    await lz4Run('-q', '-f', '-9', '-B5', join(dir, 'raw'), join(dir, 'small.lz4'));
    const out = JSON.parse(await tufRepoOk('image', 'index', join(dir, 'small.lz4'), '-o', join(dir, 'sub', 'small.idx'))) as { blockSize: number; blocks: number };
    expect(out).toMatchObject({ blockSize: 256 * 1024, blocks: 1 });
    const file = await readFile(join(dir, 'small.lz4'));
    await expectIndexDescribes(dir, decodeIndexOf(await readFile(join(dir, 'sub', 'small.idx')), file), file, data);
  });

  it('refuses linked blocks, more than one frame, unequal blocks and empty images, writing nothing', async () => {
    const dir = await tempDir();
    const data = mixedData();
    await writeFile(join(dir, 'raw'), data);
    const lz4 = async (name: string, ...flags: string[]): Promise<Buffer> => {
      await lz4Run('-q', '-f', ...flags, join(dir, 'raw'), join(dir, name));
      return readFile(join(dir, name));
    };
    const linked = await lz4('linked.lz4', '-9', '-BD');
    const plain = await lz4('plain.lz4', '-9', '-B4');
    await writeFile(join(dir, 'empty'), Buffer.alloc(0));
    await lz4Run('-q', '-f', join(dir, 'empty'), join(dir, 'empty.lz4'));
    const emptyFrame = await readFile(join(dir, 'empty.lz4'));
    const skippable = Buffer.alloc(12);
    skippable.writeUInt32LE(0x184d2a50, 0);
    skippable.writeUInt32LE(4, 4);
    // one frame of stored blocks of 64 KiB, 4 KiB, 64 KiB (no checksums)
    const stored = (n: number): Buffer => {
      const word = Buffer.alloc(4);
      word.writeUInt32LE((n | 0x80000000) >>> 0, 0);
      return Buffer.concat([word, data.subarray(0, n)]);
    };
    const { h32Raw } = await xxhash();
    const descriptor = Buffer.from([0x60, 0x40]);
    const header = Buffer.from([0x04, 0x22, 0x4d, 0x18, ...descriptor, (h32Raw(descriptor, 0) >>> 8) & 0xff]);
    const files: Record<string, Buffer> = {
      'two.lz4': Buffer.concat([plain, plain]),
      'trailing-empty-frame.lz4': Buffer.concat([plain, emptyFrame]),
      'skippable-first.lz4': Buffer.concat([skippable, plain]),
      'unequal.lz4': Buffer.concat([header, stored(65536), stored(4096), stored(65536), Buffer.alloc(4)]),
      'last-longer.lz4': Buffer.concat([header, stored(4096), stored(8192), Buffer.alloc(4)]),
    };
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    const why: Record<string, string> = {
      'linked.lz4': 'its blocks are linked (lz4 -BD), so no block decodes without the ones before it',
      'two.lz4': 'it holds more than one frame',
      'trailing-empty-frame.lz4': 'it holds more than one frame',
      'skippable-first.lz4': 'it holds more than one frame',
      'unequal.lz4': 'its blocks decode to unequal sizes (block 0: 65536 bytes, block 1: 4096; only the last may be shorter)',
      'last-longer.lz4': 'its blocks decode to unequal sizes (block 0: 4096 bytes, block 1: 8192; only the last may be shorter)',
      'empty.lz4': 'it decodes to no bytes',
    };
    expect(linked.readUInt8(4) & 0x20).toBe(0); // the CLI cleared the independence flag
    for (const [name, reason] of Object.entries(why)) {
      const path = join(dir, name);
      const r = await tufRepo('image', 'index', path);
      expect([r.code, r.stdout, r.stderr], name).toEqual([1, '', `tuf-repo: error: ${path} cannot have a block index: ${reason}\n`]);
      await expect(readFile(`${path}.blockindex`)).rejects.toThrow(/ENOENT/);
      await expect(indexLz4Image(path)).rejects.toBeInstanceOf(NotIndexableError);
    }
    // not indexable because not a (whole) LZ4 image: an ordinary error, not "skip the index"
    await writeFile(join(dir, 'cut.lz4'), plain.subarray(0, 1000));
    const cut = await tufRepo('image', 'index', join(dir, 'cut.lz4'));
    expect([cut.code, cut.stderr]).toEqual([1, `tuf-repo: error: cannot index ${join(dir, 'cut.lz4')}: LZ4 stream truncated: input ends at byte 1000 inside the block\n`]);
    await expect(indexLz4Image(join(dir, 'cut.lz4'))).rejects.not.toBeInstanceOf(NotIndexableError);
    const missing = await tufRepo('image', 'index', join(dir, 'nope.lz4'));
    expect(missing.stderr).toBe(`tuf-repo: error: cannot index ${join(dir, 'nope.lz4')}: ENOENT: no such file or directory, open '${join(dir, 'nope.lz4')}'\n`);
  });
});
