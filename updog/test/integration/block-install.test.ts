/**
 * Block installs (issue 15): an update whose image has a block index takes the blocks the host
 * already has from the active partition, resumes from the blocks already in place after an
 * interruption, fetches only the rest by range, and falls back to streaming the whole image when
 * the block install cannot be trusted or used. Real GPT disk image, real signed repository on
 * loopback, the real updog bin.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockIndexTargetName, decodeBlockIndex, encodeBlockIndex, type BlockIndex } from '../../src/block-index/format.js';
import { BlockInstallUnavailable, installFromBlocks, type BlockInstallResult } from '../../src/block-install/block-install.js';
import { makeFakeImage } from '../../src/boot/fake-image.js';
import { createLogger } from '../../src/common/log.js';
import { DEFAULT_DOWNLOAD_LIMITS } from '../../src/net/download-limits.js';
import { createDispatcher } from '../../src/tuf/dispatcher.js';
import { simulateBoot } from '../../src/boot/gptprio.js';
import { readGpt } from '../../src/gpt/io.js';
import { findPartitionSets } from '../../src/partitions/partition-sets.js';
import { UPDOG_BIN } from '../helpers/run-bin.js';
import { ARCH, createUpdateFixture, fakeImageHash, IMAGE_SIZES, readRange, signTargets, VARIANT, type UpdateFixture } from './update-fixture.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const PIECE = 4 * KIB;

/** Text-like bytes from a seeded generator: compresses about 2:1 like a file system image. */
function textLike(seed: number, size: number): Buffer {
  const words = Array.from({ length: 4096 }, (_, i) => `w${((i * 2654435761) >>> 0).toString(36)}`);
  const out = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let at = 0; at < size; ) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    at += out.write(`${words[x >>> 20]!} `, at);
  }
  return out;
}

/** 1.1.0's root filler: 1.0.0's with 4 KiB rewritten at 2 MiB, and 8 KiB of new bytes inserted at 5 MiB (moving what follows). */
function nextFiller(base: Buffer): Buffer {
  const edited = Buffer.from(base);
  textLike(7, 4 * KIB).copy(edited, 2 * MIB + 100);
  return Buffer.concat([edited.subarray(0, 5 * MIB), textLike(8, 8 * KIB), edited.subarray(5 * MIB)]).subarray(0, base.length);
}

const ROOT_10 = textLike(1, IMAGE_SIZES.root);
const ROOT_11 = nextFiller(ROOT_10);
const rootImage = (version: string, filler: Buffer): Buffer => makeFakeImage({ part: 'root', variant: VARIANT, arch: ARCH, version, bad: false }, IMAGE_SIZES.root, filler);

/**
 * The compressed bytes a block install must fetch, found the simple way: a block is local when every
 * whole piece of it is a whole piece somewhere in the active image (or zeros), else it is fetched.
 */
function expectedFetch(index: BlockIndex, next: Buffer, active: Buffer): { fetched: number; blocks: number[] } {
  const key = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const have = new Set<string>([key(Buffer.alloc(PIECE))]);
  for (let at = 0; at + PIECE <= active.length; at += PIECE) have.add(key(active.subarray(at, at + PIECE)));
  const blocks = index.blocks.flatMap((b, i) => {
    for (let at = b.decodedOffset; at < b.decodedOffset + b.decodedLength; at += PIECE) {
      if (at + PIECE > b.decodedOffset + b.decodedLength || !have.has(key(next.subarray(at, at + PIECE)))) return [i];
    }
    return [];
  });
  return { fetched: blocks.reduce((n, i) => n + index.blocks[i]!.compressedLength, 0), blocks };
}

/** How the server misbehaves for range requests of the root image (see `hostile`). */
type RangeMischief = 'none' | 'ignore-range' | 'other-bytes' | 'other-range';
let mischief: RangeMischief = 'none';

/** Answers the root image's range requests wrongly, as `mischief` says; everything else is served normally. */
function hostile(req: IncomingMessage, res: ServerResponse): boolean {
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (mischief === 'none' || range === null || !(req.url ?? '').endsWith('root.ext4.lz4')) return false;
  if (mischief === 'ignore-range') {
    delete req.headers.range;
    return false;
  }
  const file = fs.readFileSync(join(f.repoDir, decodeURIComponent(new URL(req.url!, 'http://x').pathname)));
  const [start, end] = [Number(range[1]), Number(range[2])];
  const length = end - start + 1;
  // other-bytes: the right headers over the bytes at the start of the file; other-range: says so
  const from = mischief === 'other-bytes' ? 0 : start + 1;
  const claimed = mischief === 'other-bytes' ? start : from;
  res.writeHead(206, { 'content-length': length, 'content-range': `bytes ${claimed}-${claimed + length - 1}/${file.length}` });
  res.end(file.subarray(from, from + length));
  return true;
}

let f: UpdateFixture;
let index: BlockIndex;
let indexBytes: Buffer;
let pristine: Buffer;
const rootTargetPath = (): string => f.targetFile('1.1.0', 'root');
/** The root image's target name, without the consistent-snapshot hash prefix. */
const rootTargetName = (): string => rootTargetPath().split('/').pop()!.replace(/^[0-9a-f]{64}\./, '');
const indexFilePath = (): string => {
  const name = fs.readdirSync(join(f.repoDir, 'targets')).find((n) => n.endsWith(`.${blockIndexTargetName(rootTargetName())}`));
  return join(f.repoDir, 'targets', name!);
};

beforeAll(async () => {
  f = await createUpdateFixture({ ranges: true, activeFillers: { root: ROOT_10 }, serverHook: hostile });
  await f.publish([{ version: '1.1.0', fillers: { root: ROOT_11 }, blockIndex: true }]);
  const target = fs.readFileSync(rootTargetPath());
  indexBytes = fs.readFileSync(indexFilePath());
  index = decodeBlockIndex(indexBytes, { name: 'root', length: target.length, sha256: createHash('sha256').update(target).digest('hex') });
  pristine = fs.readFileSync(f.disk);
});
afterAll(() => f.close());

interface ImageReport {
  method: string;
  downloadedBytes: number;
  reusedBytes: number;
  writtenBytes: number;
}

async function updateImage(env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; images: Record<string, ImageReport> }> {
  const run = await f.run(['update-image', '--json'], env);
  return { code: run.code, stderr: run.stderr, images: run.code === 0 ? (JSON.parse(run.stdout) as { images: Record<string, ImageReport> }).images : {} };
}

const rootResponses = (): { status: number; bytes: number }[] => f.server.responses.filter((r) => r.path.endsWith('root.ext4.lz4'));
const NEXT_ROOT = rootImage('1.1.0', ROOT_11);
const ACTIVE_ROOT = rootImage('1.0.0', ROOT_10);
const rootOfB = (): string => f.partitionHash('B', 'root', IMAGE_SIZES.root);
const NEXT_ROOT_HASH = fakeImageHash('1.1.0', 'root', false, IMAGE_SIZES.root, ROOT_11);

function freshDisk(): void {
  fs.writeFileSync(f.disk, pristine);
  f.server.responses.length = 0;
  mischief = 'none';
}

describe('block install', () => {
  it('fetches only the blocks the host lacks, by range, and writes the exact image', async () => {
    freshDisk();
    const want = expectedFetch(index, NEXT_ROOT, ACTIVE_ROOT);
    expect(want.blocks.length).toBeGreaterThan(0);
    expect(want.blocks.length).toBeLessThan(index.blocks.length / 2);

    const run = await updateImage();
    expect(run.code, run.stderr).toBe(0);
    const fetchedDecoded = want.blocks.reduce((n, i) => n + index.blocks[i]!.decodedLength, 0);
    expect(run.images.root).toEqual({ target: rootTargetName(), method: 'blocks', downloadedBytes: want.fetched, reusedBytes: IMAGE_SIZES.root - fetchedDecoded, writtenBytes: IMAGE_SIZES.root });
    expect(rootResponses().every((r) => r.status === 206)).toBe(true);
    expect(rootResponses().reduce((n, r) => n + r.bytes, 0)).toBe(want.fetched);
    expect(rootOfB()).toBe(NEXT_ROOT_HASH);
    // boot and hash differ in every block from 1.0.0: all of them to fetch, so streamed whole
    expect(run.images.boot!.method).toBe('stream');
    expect(run.stderr).toMatch(/must be fetched, so it is streamed whole/);
    expect((await f.status()).B).toMatchObject({ triesLeft: 1, successful: false });
  });

  it('a re-run on a set already holding the image fetches nothing for it (resume needs no journal)', async () => {
    // the disk as the previous test left it: set B holds 1.1.0's root
    f.server.responses.length = 0;
    const run = await updateImage();
    expect(run.code, run.stderr).toBe(0);
    expect(run.images.root).toMatchObject({ method: 'blocks', downloadedBytes: 0, reusedBytes: IMAGE_SIZES.root });
    expect(rootResponses()).toEqual([]);
    expect(rootOfB()).toBe(NEXT_ROOT_HASH);
  });
});

/** installFromBlocks called directly (not through the bin) on set B's root, from set A's; `index` overrides the index target. */
async function installDirectly(options: { maxWantedPieces?: number; index?: { length: number } }): Promise<{ result: BlockInstallResult; plans: string[] }> {
  const target = fs.readFileSync(rootTargetPath());
  const hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const sets = f.sets();
  const extent = (p: { offset: number; size: number }, label: string) => ({ offset: p.offset, size: p.size, label });
  const plans: string[] = [];
  const logger = createLogger('updog', 'info');
  logger.info = ((obj: Record<string, unknown>, msg: string) => void (msg === 'block install planned' && plans.push(JSON.stringify(obj)))) as typeof logger.info;
  const dispatcher = createDispatcher();
  const disk = await open(f.disk, 'r+');
  try {
    const result = await installFromBlocks({
      image: 'root',
      source: { url: `${f.server.url}/targets/${basename(rootTargetPath())}`, name: rootTargetName(), length: target.length, sha256: hex(target) },
      index: { url: `${f.server.url}/targets/${basename(indexFilePath())}`, name: blockIndexTargetName(rootTargetName()), length: indexBytes.length, sha256: hex(indexBytes), ...options.index },
      download: { dispatcher, limits: DEFAULT_DOWNLOAD_LIMITS },
      disk,
      partition: extent(sets.B.root, 'B root'),
      active: extent(sets.A.root, 'A root'),
      logger,
      ...(options.maxWantedPieces === undefined ? {} : { maxWantedPieces: options.maxWantedPieces }),
    });
    return { result, plans };
  } finally {
    await disk.close();
    await dispatcher.close();
  }
}

describe('block install, called directly', () => {
  it('with a table of fewer pieces than are missing: several host scans, the same bytes fetched, the exact image', async () => {
    freshDisk();
    const { result, plans } = await installDirectly({ maxWantedPieces: 64 }); // 256 KiB of blocks per pass
    const want = expectedFetch(index, NEXT_ROOT, ACTIVE_ROOT);
    expect(result).toEqual({ method: 'blocks', downloadedBytes: want.fetched, reusedBytes: IMAGE_SIZES.root - want.blocks.reduce((n, i) => n + index.blocks[i]!.decodedLength, 0), writtenBytes: IMAGE_SIZES.root });
    expect(plans).toHaveLength(Math.ceil(IMAGE_SIZES.root / (256 * KIB)));
    expect(plans[1]).toContain(`"pass":2,"firstBlock":4,"endBlock":8`);
    expect(rootOfB()).toBe(NEXT_ROOT_HASH);
  });

  it('planned in passes with nothing to reuse: judged from the first pass, the image is streamed whole instead', async () => {
    freshDisk();
    const activeRoot = f.sets().A.root;
    const fd = fs.openSync(f.disk, 'r+');
    fs.writeSync(fd, Buffer.alloc(IMAGE_SIZES.root), 0, IMAGE_SIZES.root, activeRoot.offset);
    fs.closeSync(fd);
    await expect(installDirectly({ maxWantedPieces: 64 })).rejects.toThrow(
      new RegExp(`^about (99|100) % of ${rootTargetName().replace(/\./g, '\\.')} must be fetched \\(judged from its first 4 of 144 blocks\\), so it is streamed whole$`),
    );
    expect(rootResponses()).toEqual([]); // decided before fetching anything
  });

  it('an index signed as larger than 64 MiB is not downloaded: the image is streamed instead', async () => {
    freshDisk();
    await expect(installDirectly({ index: { length: 64 * MIB + 1 } })).rejects.toThrow(
      new BlockInstallUnavailable(`its block index ${blockIndexTargetName(rootTargetName())} is ${64 * MIB + 1} bytes, more than the ${64 * MIB} this updog reads`),
    );
    expect(f.server.responses).toEqual([]);
  });
});

/** The root of the set the boot model boots holds a complete image of the version it claims. */
async function bootsCompleteRoot(): Promise<string> {
  const copy = join(f.dir.path, 'boot-copy.img');
  fs.copyFileSync(f.disk, copy);
  try {
    const boot = await simulateBoot(copy);
    const root = findPartitionSets(readGpt(copy).gpt)[boot.set].root;
    const hash = createHash('sha256').update(readRange(copy, root.offset, IMAGE_SIZES.root)).digest('hex');
    expect(hash).toBe(boot.version === '1.0.0' ? fakeImageHash('1.0.0', 'root', false, IMAGE_SIZES.root, ROOT_10) : NEXT_ROOT_HASH);
    return `${boot.set} ${boot.version}`;
  } finally {
    fs.rmSync(copy, { force: true });
  }
}

describe('resume after a kill', () => {
  const KILLS = [
    'after-clear-inactive',
    'before-image:root',
    'write:root:1',
    'local:root:1',
    `local:root:${2 * MIB}`,
    'fetched:root:1',
    `fetched:root:${64 * KIB + 1}`, // after the second fetched block (64 KiB blocks)
    'after-image:root',
    'before-image:boot',
    'write:boot:1',
    'after-image:boot',
    'write:hash:1',
    'before-mark-valid',
  ];
  it.each(KILLS)('killed at %s: the old set still boots, and the re-run fetches only the blocks not yet in place', async (point) => {
    freshDisk();
    const killed = await f.run(['update-image'], { UPDOG_CRASH_AT: point });
    expect(killed.code).toBeNull(); // SIGKILL
    expect(await bootsCompleteRoot()).toBe('A 1.0.0');
    const notInPlace = fetchBlocksNotInPlace();
    f.server.responses.length = 0;
    const rerun = await updateImage();
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.images.root!.downloadedBytes).toBe(notInPlace.reduce((n, i) => n + index.blocks[i]!.compressedLength, 0));
    expect(rootOfB()).toBe(NEXT_ROOT_HASH);
    expect((await f.status()).B).toMatchObject({ triesLeft: 1, successful: false });
  });
});

/** Which of the blocks to fetch are not yet in place on set B's root partition. */
function fetchBlocksNotInPlace(): number[] {
  const partB = readRange(f.disk, f.sets().B.root.offset, IMAGE_SIZES.root);
  return expectedFetch(index, NEXT_ROOT, ACTIVE_ROOT).blocks.filter((i) => {
    const b = index.blocks[i]!;
    return !createHash('sha256').update(partB.subarray(b.decodedOffset, b.decodedOffset + b.decodedLength)).digest().equals(b.decodedSha256);
  });
}

describe('cancel', () => {
  it('SIGTERM during the range fetches: exit 5, set B unbootable; the re-run fetches only the blocks not yet in place', async () => {
    freshDisk();
    const defined: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...f.env })) if (v !== undefined) defined[k] = v;
    // capped so that the fetches surely take a while: a few KiB per second against ~100 KiB to fetch
    const child = spawn(process.execPath, [UPDOG_BIN, 'update-image', '--max-rate', '24KiB', '--log-level', 'warn'], { env: defined, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const all = expectedFetch(index, NEXT_ROOT, ACTIVE_ROOT).blocks.length;
    for (let i = 0; i < 1200 && fetchBlocksNotInPlace().length === all; i++) await new Promise((r) => setTimeout(r, 25));
    const notInPlace = fetchBlocksNotInPlace();
    expect(notInPlace.length).toBeLessThan(all);
    expect(notInPlace.length).toBeGreaterThan(0);
    child.kill('SIGTERM');
    expect(await exited).toBe(5);
    expect(stderr).toMatch(/^updog: cancelled by SIGTERM: .* run the command again to continue\n$/);
    expect((await f.status()).B).toMatchObject({ priority: 0, triesLeft: 0, successful: false });
    expect(await bootsCompleteRoot()).toBe('A 1.0.0');

    const remaining = fetchBlocksNotInPlace(); // a block may have landed between the look and the signal
    const rerun = await updateImage();
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.images.root!.downloadedBytes).toBe(remaining.reduce((n, i) => n + index.blocks[i]!.compressedLength, 0));
    expect(rootOfB()).toBe(NEXT_ROOT_HASH);
  });
});

describe('a block install that cannot be trusted falls back to the whole stream, or fails', () => {
  it.each([
    ['ignore-range', /does not answer range requests/],
    ['other-bytes', /does not match the signed block index/],
    ['other-range', /range|Content-Range/i],
  ] as const)('server answers ranges with %s: streamed whole and verified instead', async (how, why) => {
    freshDisk();
    mischief = how;
    const run = await updateImage();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(why);
    expect(run.stderr).toMatch(/block install not possible: streaming the whole image/);
    expect(run.images.root).toMatchObject({ method: 'stream', reusedBytes: 0 });
    expect(rootOfB()).toBe(NEXT_ROOT_HASH);
  });

  it('a served index that is not the signed one: streamed whole', async () => {
    freshDisk();
    const indexFile = indexFilePath();
    const tampered = Buffer.from(indexBytes);
    tampered[tampered.length - 1]! ^= 1; // a piece hash: still well formed
    fs.writeFileSync(indexFile, tampered);
    try {
      const run = await updateImage();
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/does not match the signed metadata/);
      expect(run.images.root!.method).toBe('stream');
      expect(rootOfB()).toBe(NEXT_ROOT_HASH);
    } finally {
      fs.writeFileSync(indexFile, indexBytes);
    }
  });

  it('a tampered image block (same length, other bytes): refused, the set is left unbootable', async () => {
    freshDisk();
    const target = rootTargetPath();
    const good = fs.readFileSync(target);
    const fetched = expectedFetch(index, NEXT_ROOT, ACTIVE_ROOT).blocks[0]!;
    const bad = Buffer.from(good);
    bad[index.blocks[fetched]!.compressedOffset + 100]! ^= 0xff;
    fs.writeFileSync(target, bad);
    try {
      const run = await f.run(['update-image']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/block \d+ .* does not match the signed block index/);
      expect(run.stderr).toMatch(/sha256 mismatch/);
      expect((await f.status()).B).toMatchObject({ triesLeft: 0, successful: false });
      expect(await bootsCompleteRoot()).toBe('A 1.0.0');
    } finally {
      fs.writeFileSync(target, good);
    }
  });

  const crafted: [string, (i: BlockIndex) => void, RegExp][] = [
    ['overlapping blocks', (i) => (i.blocks[1]!.compressedOffset -= 1), /overlaps/],
    ['a block past the end of the image', (i) => (i.blocks.at(-1)!.compressedLength += i.imageLength), /impossible compressed length|past the end/],
    ['a wrong decoded sha256 for the blocks to fetch', (i) => expectedFetch(i, NEXT_ROOT, ACTIVE_ROOT).blocks.forEach((b) => i.blocks[b]!.decodedSha256.fill(7)), /decodes to bytes that do not match/],
  ];
  it.each(crafted)('a signed index with %s: streamed whole', async (_what, spoil, why) => {
    freshDisk();
    const copy = decodeBlockIndex(indexBytes, { name: 'root', length: index.imageLength, sha256: index.imageSha256.toString('hex') });
    spoil(copy);
    await signTargets(f, { [blockIndexTargetName(rootTargetName())]: encodeBlockIndex(copy) });
    try {
      const run = await updateImage();
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(why);
      expect(run.images.root!.method).toBe('stream');
      expect(rootOfB()).toBe(NEXT_ROOT_HASH);
    } finally {
      await signTargets(f, { [blockIndexTargetName(rootTargetName())]: indexBytes });
    }
  });
});
