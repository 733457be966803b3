/**
 * One call from a manifest and image files to a signed, ready-to-serve repository: the library
 * form of `tuf-repo release`, used by tests and the demo.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { serializeManifest, type Manifest } from '@updog-ts/updog/release';
import { loadOrCreateKeyDir } from '../keys/key-dir.js';
import { generateKey, parsePrivateKeyPem, type Signer } from '../keys/keys.js';
import { exists } from '../fs/files.js';
import { loadRepository, METADATA_DIR, rootVersionsOnDisk } from '../tuf/load.js';
import { DEFAULT_LIFETIME_MS, RepositoryEditor, type PublishResult, type RoleExpiries } from '../tuf/repository.js';
import { addRootKey, initRoot, signRoot } from '../tuf/root.js';
import { TOP_ROLES } from '../tuf/signing.js';

export const MANIFEST_TARGET = 'manifest.json';

export interface ReleaseExpiries extends RoleExpiries {
  root?: Date;
}

export interface BuildReleaseOptions {
  /** Repository directory: created (outDir/metadata, outDir/targets), or updated if it holds one. */
  outDir: string;
  /** PEM keys (`*.pem`); one ed25519 key is generated there if it holds none. Default: a throwaway key. */
  keysDir?: string;
  /** Signers to use instead of `keysDir`. */
  signers?: readonly Signer[];
  /** Signed root for a new repository; default: every key in every role, threshold 1. */
  root?: Metadata<Root>;
  manifest: Manifest;
  /** Target name -> local file path (lz4 images, migrations). */
  targets: Record<string, string>;
  expires?: ReleaseExpiries;
  /** Hard-link targets instead of copying. */
  link?: boolean;
  now?: Date;
}

export interface BuildReleaseResult {
  /** The first root version: the trust anchor clients ship. */
  rootJsonPath: string;
  metadataDir: string;
  targetsDir: string;
  versions: PublishResult['versions'];
}

/** A root giving every top-level role all of `signers`' keys, threshold 1, signed by them. */
export async function rootForSigners(signers: readonly Signer[], expires: Date): Promise<Metadata<Root>> {
  let root = initRoot(expires);
  for (const signer of signers) for (const role of TOP_ROLES) root = addRootKey(root, signer.publicKey, role);
  await signRoot(root, signers);
  return root;
}

export async function buildReleaseRepository(opts: BuildReleaseOptions): Promise<BuildReleaseResult> {
  const now = opts.now ?? new Date();
  const signers =
    opts.signers ?? (opts.keysDir ? await loadOrCreateKeyDir(opts.keysDir) : [parsePrivateKeyPem((await generateKey('ed25519')).privatePem)]);
  const existing = await exists(join(opts.outDir, METADATA_DIR));
  const editor = existing
    ? RepositoryEditor.edit(await loadRepository(opts.outDir, { now }))
    : RepositoryEditor.create(opts.root ?? (await rootForSigners(signers, opts.expires?.root ?? new Date(now.getTime() + DEFAULT_LIFETIME_MS.root))));

  const scratch = await mkdtemp(join(tmpdir(), 'tuf-release-'));
  try {
    for (const [name, path] of Object.entries(opts.targets)) await editor.addTarget(name, path);
    const manifestPath = join(scratch, MANIFEST_TARGET);
    await writeFile(manifestPath, serializeManifest(opts.manifest));
    await editor.addTarget(MANIFEST_TARGET, manifestPath);
    const result = await editor.publish(opts.outDir, { signers, expires: opts.expires ?? {}, link: opts.link ?? false, now });
    const [firstRoot] = await rootVersionsOnDisk(result.metadataDir);
    return {
      rootJsonPath: join(result.metadataDir, `${firstRoot}.root.json`),
      metadataDir: result.metadataDir,
      targetsDir: result.targetsDir,
      versions: result.versions,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
