/**
 * `tuf-repo release`: image files (raw or already LZ4) + release facts -> a new update in the
 * repository's manifest, with waves and migrations, signed and ready to serve in one step. Each
 * image target gets its block index target next to it (`<image>.blockindex`) unless its blocks
 * cannot be indexed; the manifest does not mention indexes, so clients that know nothing of them
 * read the repository as before.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import { parseManifest, type Manifest, type Migration } from '@updog-ts/updog/release';
import { blockIndexTargetName, type ImagePart } from '@updog-ts/updog/image';
import type { BuiltBlockIndex } from '../image/block-index-builder.js';
import { indexLz4Image, NotIndexableError } from '../image/lz4-index.js';
import { imageTargetName, isLz4Frame, packImage } from '../image/pack.js';
import { digestFile, exists } from '../fs/files.js';
import type { Signer } from '../keys/keys.js';
import { addUpdate, emptyManifest, manifestProblems, setMigrations } from '../manifest/edit.js';
import { wavesFromPolicy, type PolicyWave } from '../manifest/wave-policy.js';
import { targetFilePath } from '../tuf/inspect.js';
import { loadRepository, METADATA_DIR, type LoadedRepository } from '../tuf/load.js';
import { buildReleaseRepository, MANIFEST_TARGET, type BuildReleaseResult, type ReleaseExpiries } from './build-release.js';

export interface ReleaseOptions {
  outDir: string;
  keysDir?: string;
  signers?: readonly Signer[];
  /** Signed root for a new repository. */
  root?: Metadata<Root>;
  variant: string;
  arch: string;
  version: string;
  maxVersion?: string;
  /** Raw or LZ4 image files. */
  images: Record<ImagePart, string>;
  /** Decoded block size for packing raw images (LZ4 inputs keep theirs); default DEFAULT_BLOCK_SIZE. */
  blockSize?: number;
  /** Publish a block index target per image (default true). */
  blockIndex?: boolean;
  /** Build id in the image names; default: the first 8 hex digits of the root image target's sha256. */
  build?: string;
  wavePolicy?: readonly PolicyWave[];
  /** Start of the rollout the waves count from (default: now). */
  startAt?: Date;
  /** Replace the manifest's migrations with these (from Release.toml). */
  migrations?: Migration[];
  /** Extra targets (e.g. migration files): name -> path. */
  extraTargets?: Record<string, string>;
  expires?: ReleaseExpiries;
  link?: boolean;
  now?: Date;
}

export interface ReleaseResult extends BuildReleaseResult {
  manifest: Manifest;
  images: Record<ImagePart, string>;
  /** The index target published for each image that has one. */
  blockIndexes: Partial<Record<ImagePart, string>>;
  /** Why an LZ4 input got no index (e.g. linked blocks). */
  blockIndexSkipped: Partial<Record<ImagePart, string>>;
}

async function currentManifest(repo: LoadedRepository | undefined): Promise<Manifest> {
  const path = repo && targetFilePath(repo, MANIFEST_TARGET);
  if (!path) return emptyManifest();
  return parseManifest(await readFile(path, 'utf8'));
}

const PARTS: readonly ImagePart[] = ['boot', 'root', 'hash'];

/** An image input as the file to publish, with its block index when it gets one. */
interface ImageTargetFile {
  path: string;
  index?: BuiltBlockIndex;
  /** Why an LZ4 input gets no index. */
  noIndexBecause?: string;
}

/** LZ4 inputs are published as they are and indexed if they can be; raw ones are packed to `packedPath`. */
async function imageTargetFile(src: string, packedPath: string, withIndex: boolean, blockSize: number | undefined): Promise<ImageTargetFile> {
  if (!(await isLz4Frame(src))) {
    const packed = await packImage(src, packedPath, blockSize);
    return withIndex ? { path: packed.path, index: packed.blockIndex } : { path: packed.path };
  }
  if (!withIndex) return { path: src };
  try {
    return { path: src, index: await indexLz4Image(src) };
  } catch (err) {
    if (!(err instanceof NotIndexableError)) throw err;
    return { path: src, noIndexBecause: err.message };
  }
}

export async function releaseImages(opts: ReleaseOptions): Promise<ReleaseResult> {
  const now = opts.now ?? new Date();
  const repo = (await exists(join(opts.outDir, METADATA_DIR))) ? await loadRepository(opts.outDir, { now }) : undefined;
  const scratch = await mkdtemp(join(tmpdir(), 'tuf-release-images-'));
  try {
    const images = {} as Record<ImagePart, ImageTargetFile>;
    for (const part of PARTS) {
      const src = opts.images[part];
      if (!(await exists(src))) throw new UserError(`${part} image ${src} does not exist`);
      images[part] = await imageTargetFile(src, join(scratch, `${part}.lz4`), opts.blockIndex ?? true, opts.blockSize);
    }
    const build = opts.build ?? (await digestFile(images.root.path)).sha256.slice(0, 8);
    const names = {} as Record<ImagePart, string>;
    for (const part of PARTS) names[part] = imageTargetName({ variant: opts.variant, arch: opts.arch, version: opts.version, build }, part);

    let manifest = addUpdate(
      await currentManifest(repo),
      { variant: opts.variant, arch: opts.arch, version: opts.version },
      names,
      {
        ...(opts.maxVersion === undefined ? {} : { maxVersion: opts.maxVersion }),
        ...(opts.wavePolicy ? { waves: wavesFromPolicy(opts.wavePolicy, opts.startAt ?? now) } : {}),
      },
    );
    if (opts.migrations) manifest = setMigrations(manifest, opts.migrations);

    const targets: Record<string, string> = { ...opts.extraTargets };
    const blockIndexes: Partial<Record<ImagePart, string>> = {};
    const blockIndexSkipped: Partial<Record<ImagePart, string>> = {};
    for (const part of PARTS) {
      const { path, index, noIndexBecause } = images[part];
      targets[names[part]] = path;
      if (noIndexBecause !== undefined) blockIndexSkipped[part] = noIndexBecause;
      if (index === undefined) continue;
      blockIndexes[part] = blockIndexTargetName(names[part]);
      const indexPath = join(scratch, `${part}.blockindex`);
      await writeFile(indexPath, index.bytes);
      targets[blockIndexes[part]] = indexPath;
    }
    const known = new Set([...Object.keys(repo?.targets.signed.targets ?? {}), ...Object.keys(targets)]);
    const problems = manifestProblems(manifest, known);
    if (problems.length > 0) throw new UserError(`the release manifest would be invalid:\n  ${problems.join('\n  ')}`);

    const result = await buildReleaseRepository({
      outDir: opts.outDir,
      ...(opts.keysDir === undefined ? {} : { keysDir: opts.keysDir }),
      ...(opts.signers === undefined ? {} : { signers: opts.signers }),
      ...(opts.root === undefined ? {} : { root: opts.root }),
      manifest,
      targets,
      ...(opts.expires === undefined ? {} : { expires: opts.expires }),
      link: opts.link ?? false,
      now,
    });
    return { ...result, manifest, images: names, blockIndexes, blockIndexSkipped };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
