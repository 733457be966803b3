/**
 * Fake releases for tests and the demo: small boot/root/hash images whose header records their
 * version (and whether they are "bad"), packed as LZ4 targets with Bottlerocket-style names.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_INDEX_SUFFIX, makeFakeImage, type ImagePart } from '@updog-ts/updog/image';
import { imageTargetName, packImage } from './pack.js';

export interface FakeReleaseOptions {
  /** Directory that receives the three `.lz4` files. */
  dir: string;
  variant: string;
  arch: string;
  version: string;
  /** A bad image boots but never passes its health check. */
  bad?: boolean;
  /** Raw image sizes in bytes (default boot 256 KiB, root 1 MiB, hash 128 KiB). */
  sizes?: Partial<Record<ImagePart, number>>;
  /** Image bytes after the header line, per image (default: a version-dependent pattern). */
  fillers?: Partial<Record<ImagePart, Uint8Array>>;
}

export interface FakeRelease {
  /** Paths of the LZ4 target files. */
  boot: string;
  root: string;
  hash: string;
  /** Their target names (the file names). */
  names: Record<ImagePart, string>;
  /** Paths of their block indexes (`<image file>.blockindex`). */
  blockIndexes: Record<ImagePart, string>;
}

export const DEFAULT_FAKE_SIZES: Record<ImagePart, number> = { boot: 256 * 1024, root: 1024 * 1024, hash: 128 * 1024 };
const PARTS: readonly ImagePart[] = ['boot', 'root', 'hash'];

export async function makeFakeRelease(opts: FakeReleaseOptions): Promise<FakeRelease> {
  const bad = opts.bad ?? false;
  const header = { variant: opts.variant, arch: opts.arch, version: opts.version, bad };
  // The build id tells good and bad builds of one version apart.
  const build = createHash('sha256').update(JSON.stringify(header)).digest('hex').slice(0, 8);
  await mkdir(opts.dir, { recursive: true });
  const scratch = await mkdtemp(join(opts.dir, '.raw-'));
  try {
    const out = {} as Record<ImagePart, string>;
    const names = {} as Record<ImagePart, string>;
    const blockIndexes = {} as Record<ImagePart, string>;
    for (const part of PARTS) {
      const raw = join(scratch, part);
      await writeFile(raw, makeFakeImage({ part, ...header }, opts.sizes?.[part] ?? DEFAULT_FAKE_SIZES[part], opts.fillers?.[part]));
      names[part] = imageTargetName({ variant: opts.variant, arch: opts.arch, version: opts.version, build }, part);
      out[part] = join(opts.dir, names[part]);
      const packed = await packImage(raw, out[part]);
      blockIndexes[part] = out[part] + BLOCK_INDEX_SUFFIX;
      await writeFile(blockIndexes[part], packed.blockIndex.bytes);
    }
    return { boot: out.boot, root: out.root, hash: out.hash, names, blockIndexes };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
