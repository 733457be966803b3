/**
 * The block index format: an index of a real `lz4 -B4` file round-trips through encode/decode,
 * and decodeBlockIndex refuses each kind of bad index with its exact message.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlockIndexError,
  blockIndexTargetName,
  decodeBlockIndex,
  openBlockIndex,
  encodeBlockIndex,
  HEADER_LENGTH,
  RECORD_LENGTH,
  type BlockIndex,
  type IndexedBlock,
} from '../../src/block-index/format.js';
import xxhash from 'xxhash-wasm';
import { decodeLz4Blocks } from '../../src/install/lz4-frame.js';

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const PIECE = 4096;

let dir: string;
let file: Buffer;
let data: Buffer;
let image: { name: string; length: number; sha256: string };
let index: Omit<BlockIndex, 'pieceStart'>;

/** 200,000 bytes of text: three full 64 KiB blocks and a 3,392-byte one. */
function text(): Buffer {
  const lines: string[] = [];
  for (let i = 0; lines.join('').length < 200_000; i++) lines.push(`line ${i}: ${(i * 2654435761) % 1000003}\n`);
  return Buffer.from(lines.join('')).subarray(0, 200_000);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'block-index-'));
  data = text();
  writeFileSync(join(dir, 'raw'), data);
  execFileSync('lz4', ['-q', '-f', '-9', '-B4', join(dir, 'raw'), join(dir, 'raw.lz4')]);
  file = readFileSync(join(dir, 'raw.lz4'));
  image = { name: 'raw.lz4', length: file.length, sha256: sha256(file).toString('hex') };
  // The index straight from the walk of the real file.
  // xxhash-wasm's xxh64, not updog's: an independent reference for the piece hashes
  const { h64Raw } = await xxhash();
  const blocks: IndexedBlock[] = [];
  const pieceHashes = new BigUint64Array(Math.ceil(data.length / PIECE));
  let decoded = 0;
  let pieces = 0;
  async function* source(): AsyncGenerator<Buffer> {
    yield file;
  }
  for await (const b of decodeLz4Blocks(source())) {
    blocks.push({
      compressedOffset: b.offset,
      compressedLength: 4 + b.payload.length,
      decodedOffset: decoded,
      decodedLength: b.data.length,
      decodedSha256: sha256(b.data),
      compressedSha256: sha256(file.subarray(b.offset, b.offset + 4 + b.payload.length)),
    });
    decoded += b.data.length;
    for (let at = 0; at < b.data.length; at += PIECE) pieceHashes[pieces++] = h64Raw(b.data.subarray(at, at + PIECE));
  }
  index = { blockSize: 65536, pieceSize: PIECE, imageLength: file.length, decodedLength: decoded, imageSha256: sha256(file), blocks, pieceHashes };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Decodes `bytes` expecting a BlockIndexError; returns its message. */
function refusal(bytes: Buffer, target = image): string {
  try {
    decodeBlockIndex(bytes, target);
  } catch (err) {
    expect(err).toBeInstanceOf(BlockIndexError);
    return (err as Error).message;
  }
  throw new Error('decodeBlockIndex accepted a bad index');
}

/** The encoded index with one record field rewritten. */
function withRecord(block: number, field: 'compressedOffset' | 'compressedLength' | 'decodedOffset' | 'decodedLength', value: number): Buffer {
  const bytes = encodeBlockIndex(index);
  const at = HEADER_LENGTH + block * RECORD_LENGTH;
  if (field === 'compressedOffset') bytes.writeBigUInt64LE(BigInt(value), at);
  if (field === 'compressedLength') bytes.writeUInt32LE(value, at + 8);
  if (field === 'decodedLength') bytes.writeUInt32LE(value, at + 12);
  if (field === 'decodedOffset') bytes.writeBigUInt64LE(BigInt(value), at + 16);
  return bytes;
}

describe('block index format', () => {
  it('round-trips the index of an lz4 -9 -B4 file, whose records point at its blocks', async () => {
    expect(index.blocks.map((b) => [b.decodedOffset, b.decodedLength])).toEqual([
      [0, 65536],
      [65536, 65536],
      [131072, 65536],
      [196608, 3392],
    ]);
    expect(index.blocks[0]!.compressedOffset).toBe(7);
    const bytes = encodeBlockIndex(index);
    expect(bytes.length).toBe(80 + 4 * 88 + 49 * 8);
    expect(bytes.toString('latin1', 0, 8)).toBe('UPDOGIDX');
    const decoded = decodeBlockIndex(bytes, image);
    expect(decoded.blocks).toEqual(index.blocks);
    expect([...decoded.pieceHashes]).toEqual([...index.pieceHashes]);
    expect([...decoded.pieceStart]).toEqual([0, 16, 32, 48, 49]);
    expect(decoded).toMatchObject({ blockSize: 65536, pieceSize: 4096, imageLength: file.length, decodedLength: 200_000 });
    // every record's slice of the file hashes to its compressed sha256, decodes to its decoded sha256
    for (const b of decoded.blocks) {
      expect(sha256(file.subarray(b.compressedOffset, b.compressedOffset + b.compressedLength))).toEqual(b.compressedSha256);
      expect(sha256(data.subarray(b.decodedOffset, b.decodedOffset + b.decodedLength))).toEqual(b.decodedSha256);
    }
    const { h64Raw } = await xxhash();
    expect(decoded.pieceHashes[48]).toBe(h64Raw(data.subarray(48 * 4096)));
    expect(blockIndexTargetName('a-root.ext4.lz4')).toBe('a-root.ext4.lz4.blockindex');
  });

  it('a retained view holds only the blocks kept, with their records and pieces, and refuses the others', () => {
    const whole = openBlockIndex(encodeBlockIndex(index), image);
    const part = whole.retain((i) => i === 1 || i === 3);
    expect([1, 3].map((i) => part.block(i))).toEqual([index.blocks[1], index.blocks[3]]);
    expect([part.pieceStart(1), part.pieceEnd(1), part.pieceStart(3), part.pieceEnd(3)]).toEqual([0, 16, 16, 17]);
    expect(part.pieceWords).toHaveLength(17 * 2);
    expect(part.pieceHash(16)).toBe(index.pieceHashes[48]);
    expect(part.pieceHash(0)).toBe(index.pieceHashes[16]);
    expect(() => part.blockLength(2)).toThrow('block 2 is not held by this view of the block index');
    expect(part).toMatchObject({ blockCount: 4, blockSize: 65536, decodedLength: 200_000 });
  });

  it('refuses a bad magic, another format version, and an index of another image', () => {
    const good = encodeBlockIndex(index);
    const magic = Buffer.from(good);
    magic.write('UPDOGIDY', 0, 'latin1');
    expect(refusal(magic)).toBe('block index of raw.lz4: not a block index (bad magic)');
    expect(refusal(good.subarray(0, 79))).toBe('block index of raw.lz4: not a block index (bad magic)');
    const version = Buffer.from(good);
    version.writeUInt32LE(2, 8);
    expect(refusal(version)).toBe('block index of raw.lz4: format version 2, this updog reads version 1');
    const other = 'block index of raw.lz4: it describes another image (its image length or sha256 differs from the signed target)';
    expect(refusal(good, { ...image, sha256: 'ab'.repeat(32) })).toBe(other);
    expect(refusal(good, { ...image, length: image.length + 1 })).toBe(other);
  });

  it('refuses impossible piece and block sizes, counts and total lengths', () => {
    const good = encodeBlockIndex(index);
    const piece = Buffer.from(good);
    piece.writeUInt32LE(3000, 16);
    expect(refusal(piece)).toBe('block index of raw.lz4: piece size 3000 is not a power of two of at least 512');
    const block = Buffer.from(good);
    block.writeUInt32LE(65536 + 512, 12);
    expect(refusal(block)).toBe('block index of raw.lz4: block size 66048 is not a multiple of the piece size 4096 up to 4194304');
    const count = Buffer.from(good);
    count.writeUInt32LE(5, 20);
    expect(refusal(count)).toBe('block index of raw.lz4: 5 blocks cannot hold 200000 bytes in blocks of 65536');
    const total = Buffer.from(good);
    total.writeBigUInt64LE(200_001n, 32);
    expect(refusal(total)).toBe('block index of raw.lz4: block 3 decodes to bytes 196608+3392, expected 196608+3393');
    total.writeBigUInt64LE(200_000n + 4096n, 32); // one more piece hash due
    expect(refusal(total)).toBe('block index of raw.lz4: 824 bytes where 4 blocks need 832');
    expect(refusal(good.subarray(0, good.length - 8))).toBe('block index of raw.lz4: 816 bytes where 4 blocks need 824');
    const huge = Buffer.from(good);
    huge.writeBigUInt64LE(1n << 60n, 24);
    expect(refusal(huge)).toBe(`block index of raw.lz4: offset or length ${1n << 60n} is out of range`);
  });

  it('refuses wrong decoded offsets and lengths', () => {
    expect(refusal(withRecord(1, 'decodedOffset', 65535))).toBe('block index of raw.lz4: block 1 decodes to bytes 65535+65536, expected 65536+65536');
    expect(refusal(withRecord(3, 'decodedLength', 3391))).toBe('block index of raw.lz4: block 3 decodes to bytes 196608+3391, expected 196608+3392');
  });

  it('refuses overlapping blocks, blocks over the frame header, past the image end, or of impossible length', () => {
    const [b0, b1, b2] = index.blocks;
    expect(refusal(withRecord(1, 'compressedOffset', b1!.compressedOffset - 1))).toBe(
      'block index of raw.lz4: block 1 overlaps the frame header or the block before it',
    );
    expect(refusal(withRecord(0, 'compressedOffset', 6))).toBe('block index of raw.lz4: block 0 overlaps the frame header or the block before it');
    expect(refusal(withRecord(2, 'compressedLength', b2!.compressedLength + index.blocks[3]!.compressedLength))).toBe(
      'block index of raw.lz4: block 3 overlaps the frame header or the block before it',
    );
    expect(refusal(withRecord(3, 'compressedOffset', file.length - 10))).toBe(
      `block index of raw.lz4: block 3 ends at ${file.length - 10 + index.blocks[3]!.compressedLength}, past the end of the ${file.length}-byte image`,
    );
    expect(refusal(withRecord(0, 'compressedLength', 4))).toBe('block index of raw.lz4: block 0 has an impossible compressed length 4');
    expect(refusal(withRecord(0, 'compressedLength', 4 + 4 * 1024 * 1024 + 1))).toBe(
      'block index of raw.lz4: block 0 has an impossible compressed length 4194309',
    );
    expect(b0!.compressedOffset + b0!.compressedLength).toBe(b1!.compressedOffset); // no block checksums: blocks abut
  });
});
