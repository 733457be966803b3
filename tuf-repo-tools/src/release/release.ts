/**
 * `tuf-repo release`: image files (raw or already LZ4) + release facts -> a new update in the
 * repository's manifest, with waves and migrations, signed and ready to serve in one step.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import { parseManifest, type Manifest, type Migration } from '@updog-ts/updog/release';
import type { ImagePart } from '@updog-ts/updog/image';
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
}

async function currentManifest(repo: LoadedRepository | undefined): Promise<Manifest> {
  const path = repo && targetFilePath(repo, MANIFEST_TARGET);
  if (!path) return emptyManifest();
  return parseManifest(await readFile(path, 'utf8'));
}

const PARTS: readonly ImagePart[] = ['boot', 'root', 'hash'];

export async function releaseImages(opts: ReleaseOptions): Promise<ReleaseResult> {
  const now = opts.now ?? new Date();
  const repo = (await exists(join(opts.outDir, METADATA_DIR))) ? await loadRepository(opts.outDir, { now }) : undefined;
  const scratch = await mkdtemp(join(tmpdir(), 'tuf-release-images-'));
  try {
    const lz4 = {} as Record<ImagePart, string>;
    for (const part of PARTS) {
      const src = opts.images[part];
      if (!(await exists(src))) throw new UserError(`${part} image ${src} does not exist`);
      lz4[part] = (await isLz4Frame(src)) ? src : (await packImage(src, join(scratch, `${part}.lz4`))).path;
    }
    const build = opts.build ?? (await digestFile(lz4.root)).sha256.slice(0, 8);
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
    for (const part of PARTS) targets[names[part]] = lz4[part];
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
    return { ...result, manifest, images: names };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
