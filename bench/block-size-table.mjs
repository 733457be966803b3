#!/usr/bin/env node
/**
 * The block-size trade-off of block-indexed images, measured on the delta fixtures
 * (bench/delta-fixtures.mjs: ext4 images of releases 1.0 and 1.1). Pure analysis, nothing
 * installed: for each block size, 1.1 is cut into independent blocks of that decoded size and
 * each is compressed with lz4-napi (the compressor of `tuf-repo image pack`/`release`), and:
 *   - compressed size of 1.1 (a whole LZ4 frame: header, size words, trailer) and its ratio to
 *     the 4 MiB-block size; with --lz4-cli also `lz4 -9 -B<n> -BI`'s size (Bottlerocket's tool);
 *   - index size (80-byte header, 88 bytes per block, 8 per 4 KiB piece: updog's format);
 *   - the compressed bytes updog must fetch for 1.0 → 1.1 when a 1.1 block counts as local if
 *     (a) it is byte-identical at the same offset of 1.0, or
 *     (b) every 4 KiB piece of it is somewhere in 1.0 (xxh64 of every 1.0 piece in a set),
 *     as % of the full compressed 1.1 image (index not included; it is a column of its own);
 *   - how many HTTP ranges (b) needs when neighbouring fetched blocks coalesce;
 *   - compression time per GiB (one pass), and the time to hash an image per GiB (best of 3, page
 *     cache warm): xxh64 per 4 KiB piece (what (b) costs on the host), sha256 per block
 *     (verifying a block), sha256 per 4 KiB piece.
 * Reads both images once for the piece figures and 1.1 once per block size; memory is one block.
 *
 *   npm run build && node bench/block-size-table.mjs [--lz4-cli] [--out FILE] [--small]   (markdown table on stdout;
 *   --small: the small fixtures, for a test)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compressSync } from 'lz4-napi';
import { deltaFixtures, profileFromArgs } from './delta-fixtures.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { PieceHasher, HEADER_LENGTH, RECORD_LENGTH, PIECE_HASH_LENGTH } = await import(path.join(repoRoot, 'updog/dist/image.js'));

const KIB = 1024;
const MIB = KIB * KIB;
const GIB = MIB * KIB;
const PIECE = 4 * KIB;
/** The LZ4 frame's block maximum sizes, and 128 KiB between the two smallest. */
const BLOCK_SIZES = [64 * KIB, 128 * KIB, 256 * KIB, MIB, 4 * MIB];
/** lz4 CLI's -B ids (only the frame's four sizes have one). */
const LZ4_CLI_ID = { [64 * KIB]: 4, [256 * KIB]: 5, [MIB]: 6, [4 * MIB]: 7 };
/** LZ4 frame header without content size (7) and end mark + content checksum (8). */
const FRAME_OVERHEAD = 7 + 8;
const SIZE_WORD = 4;

/** Calls fn(chunk, offset) for consecutive `size`-byte chunks of file (the last may be short). */
function forEachChunk(file, size, fn) {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(size);
  try {
    for (let offset = 0; ; ) {
      let n = 0;
      while (n < size) {
        const got = fs.readSync(fd, buf, n, size - n, offset + n);
        if (got === 0) break;
        n += got;
      }
      if (n === 0) return;
      fn(buf.subarray(0, n), offset);
      offset += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Bytes of the LZ4 block that encodes `block` (size word included; stored raw when compression does not pay). */
function compressedBlockLength(block) {
  const payload = compressSync(block).length - 4; // lz4-napi prefixes the decoded size
  return SIZE_WORD + Math.min(payload, block.length);
}

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

/**
 * One pass over both images in 4 KiB pieces: whether each 1.1 piece equals 1.0's at the same
 * offset, and whether its xxh64 is anywhere among 1.0's.
 */
async function pieceFacts(oldImage, newImage, hasher) {
  const oldHashes = new Set();
  forEachChunk(oldImage, 4 * MIB, (chunk) => {
    for (let at = 0; at < chunk.length; at += PIECE) oldHashes.add(hasher.hash(chunk.subarray(at, at + PIECE)));
  });
  const newLength = fs.statSync(newImage).size;
  const pieces = Math.ceil(newLength / PIECE);
  const sameOffset = new Uint8Array(pieces);
  const anywhere = new Uint8Array(pieces);
  const oldFd = fs.openSync(oldImage, 'r');
  const oldBuf = Buffer.alloc(4 * MIB);
  forEachChunk(newImage, 4 * MIB, (chunk, offset) => {
    const n = fs.readSync(oldFd, oldBuf, 0, chunk.length, offset);
    for (let at = 0; at < chunk.length; at += PIECE) {
      const i = (offset + at) / PIECE;
      const piece = chunk.subarray(at, at + PIECE);
      sameOffset[i] = at + piece.length <= n && piece.equals(oldBuf.subarray(at, at + piece.length)) ? 1 : 0;
      anywhere[i] = sameOffset[i] || oldHashes.has(hasher.hash(piece)) ? 1 : 0;
    }
  });
  fs.closeSync(oldFd);
  return { newLength, pieces, sameOffset, anywhere };
}

/** Compresses newImage in blocks of blockSize; per block its compressed length and whether (a)/(b) make it local. */
function measureBlockSize(newImage, blockSize, facts) {
  const perBlock = blockSize / PIECE;
  let compressed = FRAME_OVERHEAD;
  let fetchA = 0;
  let fetchB = 0;
  let blocks = 0;
  let ranges = 0;
  let previousFetched = false;
  const t0 = process.hrtime.bigint();
  forEachChunk(newImage, blockSize, (block, offset) => {
    const length = compressedBlockLength(block);
    const first = offset / PIECE;
    const last = Math.min(facts.pieces, first + perBlock);
    let same = true;
    let found = true;
    for (let i = first; i < last; i++) {
      same &&= facts.sameOffset[i] === 1;
      found &&= facts.anywhere[i] === 1;
    }
    compressed += length;
    if (!same) fetchA += length;
    if (!found) fetchB += length;
    // neighbouring fetched blocks coalesce into one HTTP range
    if (!found && !previousFetched) ranges++;
    previousFetched = !found;
    blocks++;
  });
  const compressSeconds = seconds(t0);
  const indexBytes = HEADER_LENGTH + blocks * RECORD_LENGTH + facts.pieces * PIECE_HASH_LENGTH;
  return { blockSize, blocks, compressed, indexBytes, fetchA, fetchB, ranges, compressSecondsPerGiB: (compressSeconds * GIB) / facts.newLength };
}

function lz4CliSize(image, blockSize) {
  if (LZ4_CLI_ID[blockSize] === undefined) return undefined;
  const out = `${image}.bst-${blockSize}.lz4`;
  try {
    execFileSync('lz4', ['-q', '-f', '-9', `-B${LZ4_CLI_ID[blockSize]}`, '-BI', image, out]);
    return fs.statSync(out).size;
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/** Seconds per GiB to hash `image` with `hashOne` applied to every `unit`-byte slice: best of 3 (the cores are shared). */
function hashRate(image, unit, hashOne) {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    forEachChunk(image, 4 * MIB, (chunk) => {
      for (let at = 0; at < chunk.length; at += unit) hashOne(chunk.subarray(at, at + unit));
    });
    best = Math.min(best, seconds(t0));
  }
  return (best * GIB) / fs.statSync(image).size;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest();

function sizeLabel(bytes) {
  return bytes >= MIB ? `${bytes / MIB} MiB` : `${bytes / KIB} KiB`;
}

async function main() {
  const withCli = process.argv.includes('--lz4-cli');
  const outIndex = process.argv.indexOf('--out');
  const fixtures = await deltaFixtures({ profile: profileFromArgs(process.argv) });
  const oldImage = fixtures.images['1.0'];
  const newImage = fixtures.images['1.1'];
  const hasher = new PieceHasher(PIECE);
  console.error(`block-size table: ${fixtures.version} (${fixtures.source}), images of ${fixtures.imageSize / MIB} MiB`);
  // warm the page cache so the hash rates measure hashing, not the disk
  hashRate(oldImage, 4 * MIB, () => {});
  const facts = await pieceFacts(oldImage, newImage, hasher);
  const missingPieces = facts.anywhere.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
  const rows = BLOCK_SIZES.map((size) => {
    console.error(`  block size ${sizeLabel(size)}`);
    return { ...measureBlockSize(newImage, size, facts), cli: withCli ? lz4CliSize(newImage, size) : undefined };
  });
  const rates = {
    xxh64Piece: hashRate(oldImage, PIECE, (p) => hasher.hash(p)),
    sha256Piece: hashRate(oldImage, PIECE, sha256),
    ...Object.fromEntries(BLOCK_SIZES.map((size) => [size, hashRate(oldImage, size, sha256)])),
  };
  const ref = rows.find((r) => r.blockSize === 4 * MIB);
  const pct = (part, whole) => `${((100 * part) / whole).toFixed(1)} %`;
  const lines = [
    `Images: ${fixtures.source === 'debian' ? 'Debian bookworm packages' : '/usr subset'}, fixtures ${fixtures.version}; ext4 ${fixtures.imageSize / MIB} MiB, ` +
      `1.1 = 1.0 with ${fixtures.changes.rewritten} files rewritten, ${fixtures.changes.patched} patched, ${fixtures.changes.removed} removed, ${fixtures.changes.added} added (of ${fixtures.changes.files}). ` +
      `4 KiB pieces of 1.1 found nowhere in 1.0: ${missingPieces} (${((missingPieces * PIECE) / MIB).toFixed(1)} MiB decoded).`,
    '',
    `| block size | blocks | 1.1 compressed (lz4-napi) | vs 4 MiB |${withCli ? ' `lz4 -9` |' : ''} index | fetch (a) same offset | fetch (b) 4 KiB pieces anywhere | (b) ranges | (b) + index | compress s/GiB | sha256 per block s/GiB |`,
    `|---|---:|---:|---:|${withCli ? '---:|' : ''}---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map((r) =>
      `| ${sizeLabel(r.blockSize)} | ${r.blocks} | ${(r.compressed / MIB).toFixed(1)} MiB | ${(r.compressed / ref.compressed).toFixed(3)} |` +
        `${withCli ? ` ${r.cli === undefined ? '–' : `${(r.cli / MIB).toFixed(1)} MiB`} |` : ''} ${(r.indexBytes / KIB).toFixed(0)} KiB |` +
        ` ${pct(r.fetchA, r.compressed)} (${(r.fetchA / MIB).toFixed(1)} MiB) | ${pct(r.fetchB, r.compressed)} (${(r.fetchB / MIB).toFixed(1)} MiB) | ${r.ranges} |` +
        ` ${pct(r.fetchB + r.indexBytes, r.compressed)} | ${r.compressSecondsPerGiB.toFixed(2)} | ${rates[r.blockSize].toFixed(2)} |`),
    '',
    `Hashing a local image (page cache warm, one core): xxh64 per 4 KiB piece ${rates.xxh64Piece.toFixed(2)} s/GiB, sha256 per 4 KiB piece ${rates.sha256Piece.toFixed(2)} s/GiB.`,
  ];
  const table = lines.join('\n');
  console.log(table);
  if (outIndex > 0) fs.writeFileSync(process.argv[outIndex + 1], `${table}\n`);
}

await main();
