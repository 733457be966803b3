/**
 * Block installs (issue 15): an update whose image has a block index takes the blocks the host
 * already has from the active partition, resumes from the blocks already in place after an
 * interruption, fetches only the rest by range, and falls back to streaming the whole image when
 * the block install cannot be trusted or used. Real GPT disk image, real signed repository on
 * loopback, the real updog bin.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBlockIndex, blockIndexTargetName, type BlockIndex } from '../../src/block-index/format.js';
import { makeFakeImage } from '../../src/boot/fake-image.js';
import { ARCH, createUpdateFixture, fakeImageHash, IMAGE_SIZES, VARIANT, type UpdateFixture } from './update-fixture.js';

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

let f: UpdateFixture;
let index: BlockIndex;
let pristine: Buffer;
const rootTargetPath = (): string => f.targetFile('1.1.0', 'root');

beforeAll(async () => {
  f = await createUpdateFixture({ ranges: true, activeFillers: { root: ROOT_10 } });
  await f.publish([{ version: '1.1.0', fillers: { root: ROOT_11 } }]);
  const target = fs.readFileSync(rootTargetPath());
  const indexFile = fs.readdirSync(`${f.repoDir}/targets`).find((n) => n.endsWith(blockIndexTargetName(rootTargetPath().split('.').slice(1).join('.'))))!;
  index = decodeBlockIndex(fs.readFileSync(`${f.repoDir}/targets/${indexFile}`), {
    name: 'root',
    length: target.length,
    sha256: createHash('sha256').update(target).digest('hex'),
  });
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

describe('block install', () => {
  it('fetches only the blocks the host lacks, by range, and writes the exact image', async () => {
    fs.writeFileSync(f.disk, pristine);
    f.server.responses.length = 0;
    const want = expectedFetch(index, rootImage('1.1.0', ROOT_11), rootImage('1.0.0', ROOT_10));
    expect(want.blocks.length).toBeGreaterThan(0);
    expect(want.blocks.length).toBeLessThan(index.blocks.length / 2);

    const run = await updateImage();
    expect(run.code, run.stderr).toBe(0);
    expect(run.images.root).toEqual({ target: expect.any(String), method: 'blocks', downloadedBytes: want.fetched, reusedBytes: index.decodedLength - want.blocks.reduce((n, i) => n + index.blocks[i]!.decodedLength, 0), writtenBytes: IMAGE_SIZES.root });
    expect(rootResponses().every((r) => r.status === 206)).toBe(true);
    expect(rootResponses().reduce((n, r) => n + r.bytes, 0)).toBe(want.fetched);
    expect(f.partitionHash('B', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.1.0', 'root', false, IMAGE_SIZES.root, ROOT_11));
    // boot and hash differ in every block from 1.0.0: nearly all of them to fetch, so streamed whole
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
    expect(f.partitionHash('B', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.1.0', 'root', false, IMAGE_SIZES.root, ROOT_11));
  });
});
