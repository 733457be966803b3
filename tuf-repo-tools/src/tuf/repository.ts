/**
 * Creating and changing repositories: stage target and root changes in memory, then `publish`
 * signs new targets/snapshot/timestamp versions and writes them so that a reader never sees a
 * half-written repository:
 *  - a new repository is built in a temporary sibling directory and renamed into place;
 *  - an existing one only gains new, content-addressed files (hashed targets, N.root.json,
 *    N.targets.json, N.snapshot.json), each written atomically, and `timestamp.json`, the
 *    entry point clients read first, is replaced last.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Metadata, MetaFile, Snapshot, TargetFile, Targets, Timestamp, type Root } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import type { Signer } from '../keys/keys.js';
import { digestBuffer, digestFile, exists, placeFileAtomic, writeFileAtomic, type FileDigest } from '../fs/files.js';
import { formatExpires } from '../time/time.js';
import { METADATA_DIR, TARGETS_DIR, RepositoryError, type LoadedRepository } from './load.js';
import { metadataJson, type AnyMetadata } from './metadata-json.js';
import { requireThreshold, signRole } from './signing.js';

export const SPEC_VERSION = '1.0.31';

const DAY_MS = 86_400_000;
/** Expiry used for a role when none is given: long-lived targets, short-lived timestamp. */
export const DEFAULT_LIFETIME_MS = { root: 365 * DAY_MS, targets: 28 * DAY_MS, snapshot: 7 * DAY_MS, timestamp: DAY_MS };

export interface RoleExpiries {
  targets?: Date;
  snapshot?: Date;
  timestamp?: Date;
}

export interface RoleVersions {
  targets?: number;
  snapshot?: number;
  timestamp?: number;
}

export interface PublishOptions {
  signers: readonly Signer[];
  expires?: RoleExpiries;
  /** Explicit versions; by default each is the previous version + 1 (1 for a new repository). */
  versions?: RoleVersions;
  /** Re-sign targets metadata even when no target changed (new version and expiry). */
  resignTargets?: boolean;
  /** Hard-link target files into the repository instead of copying them. */
  link?: boolean;
  now?: Date;
}

export interface PublishResult {
  dir: string;
  metadataDir: string;
  targetsDir: string;
  versions: { root: number; targets: number; snapshot: number; timestamp: number };
}

export function serializeMetadata(md: AnyMetadata): Buffer {
  return Buffer.from(`${JSON.stringify(metadataJson(md), null, 2)}\n`);
}

/** Refuses target names that could escape the targets directory or are ambiguous. */
export function checkTargetName(name: string): void {
  const segments = name.split('/');
  if (name.length === 0 || name.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new UserError(`invalid target name "${name}": use relative names without empty, "." or ".." segments`);
  }
}

/** Consistent-snapshot file name of a target: `<dir>/<sha256>.<basename>`. */
export function hashedTargetPath(name: string, sha256: string): string {
  const dir = posix.dirname(name);
  const file = `${sha256}.${posix.basename(name)}`;
  return dir === '.' ? file : posix.join(dir, file);
}

function nextVersion(role: string, previous: number, explicit: number | undefined): number {
  if (explicit === undefined) return previous + 1;
  if (!Number.isSafeInteger(explicit) || explicit <= previous) {
    throw new UserError(`${role} version must be an integer greater than ${previous} (got ${explicit})`);
  }
  return explicit;
}

function metaFileFor(version: number, digest: FileDigest): MetaFile {
  return new MetaFile({ version, length: digest.length, hashes: { sha256: digest.sha256 } });
}

interface StagedFile {
  src: string;
  digest: FileDigest;
}

export class RepositoryEditor {
  private readonly targetFiles: Record<string, TargetFile>;
  private readonly staged = new Map<string, StagedFile>();
  /** Root versions to write: the initial root of a new repository, then any rotations. */
  private readonly newRoots: Metadata<Root>[];
  private targetsChanged = false;
  private published = false;

  private constructor(
    private readonly base: LoadedRepository | undefined,
    private root: Metadata<Root>,
  ) {
    this.targetFiles = { ...(base?.targets.signed.targets ?? {}) };
    this.newRoots = base ? [] : [root];
  }

  /** Starts from a loaded (verified) repository. */
  static edit(repo: LoadedRepository): RepositoryEditor {
    return new RepositoryEditor(repo, repo.root);
  }

  /** Starts a new repository trusting `root`, which must carry its own root threshold. */
  static create(root: Metadata<Root>): RepositoryEditor {
    requireThreshold(root.signed, 'root', root, `root version ${root.signed.version}`);
    if (!root.signed.consistentSnapshot) throw new UserError('root must enable consistent_snapshot (root init does)');
    return new RepositoryEditor(undefined, root);
  }

  get currentRoot(): Metadata<Root> {
    return this.root;
  }

  get targets(): Readonly<Record<string, TargetFile>> {
    return this.targetFiles;
  }

  /** Adds or replaces target `name` with the content of the local file `path`. */
  async addTarget(name: string, path: string): Promise<TargetFile> {
    checkTargetName(name);
    const digest = await digestFile(path).catch((err: Error) => {
      throw new UserError(`cannot read target file ${path}: ${err.message}`, { cause: err });
    });
    const target = new TargetFile({ path: name, length: digest.length, hashes: { sha256: digest.sha256 } });
    this.targetFiles[name] = target;
    this.staged.set(name, { src: path, digest });
    this.targetsChanged = true;
    return target;
  }

  removeTarget(name: string): void {
    if (!this.targetFiles[name]) throw new UserError(`no target named "${name}" in the repository`);
    delete this.targetFiles[name];
    this.staged.delete(name);
    this.targetsChanged = true;
  }

  /**
   * Rotates to `next`, which must be version current+1 and carry the root threshold of both the
   * current root and itself.
   */
  rotateRoot(next: Metadata<Root>): void {
    const current = this.root;
    if (next.signed.version !== current.signed.version + 1) {
      throw new UserError(`new root must be version ${current.signed.version + 1} (got ${next.signed.version})`);
    }
    if (!next.signed.consistentSnapshot) throw new UserError('new root must keep consistent_snapshot enabled');
    requireThreshold(current.signed, 'root', next, `root version ${next.signed.version} (cross-signature by version ${current.signed.version})`);
    requireThreshold(next.signed, 'root', next, `root version ${next.signed.version}`);
    this.newRoots.push(next);
    this.root = next;
  }

  /** Signs and writes the changes. An editor publishes once (a failed attempt may be retried): load the repository again to go on. */
  async publish(dir: string, opts: PublishOptions): Promise<PublishResult> {
    if (this.published) throw new Error('RepositoryEditor.publish called twice; load the repository again');
    const now = opts.now ?? new Date();
    const expiry = (role: keyof RoleExpiries): string =>
      formatExpires(opts.expires?.[role] ?? new Date(now.getTime() + DEFAULT_LIFETIME_MS[role]));
    const root = this.root.signed;
    const base = this.base;

    // Targets: a new version when content, keys (root rotation) or the caller asks for it.
    let targets: Metadata<Targets>;
    if (!base || this.targetsChanged || this.newRoots.length > 0 || opts.resignTargets) {
      targets = new Metadata(
        new Targets({
          version: base ? nextVersion('targets', base.targets.signed.version, opts.versions?.targets) : (opts.versions?.targets ?? 1),
          specVersion: SPEC_VERSION,
          expires: expiry('targets'),
          targets: this.targetFiles,
        }),
      );
      await signRole(root, 'targets', targets, opts.signers);
    } else {
      if (opts.versions?.targets !== undefined) throw new UserError('a targets version was given but targets are not re-signed');
      targets = base.targets;
    }
    const targetsBytes = serializeMetadata(targets);

    const snapshot = new Metadata(
      new Snapshot({
        version: base ? nextVersion('snapshot', base.snapshot.signed.version, opts.versions?.snapshot) : (opts.versions?.snapshot ?? 1),
        specVersion: SPEC_VERSION,
        expires: expiry('snapshot'),
        meta: { 'targets.json': metaFileFor(targets.signed.version, digestBuffer(targetsBytes)) },
      }),
    );
    await signRole(root, 'snapshot', snapshot, opts.signers);
    const snapshotBytes = serializeMetadata(snapshot);

    const timestamp = new Metadata(
      new Timestamp({
        version: base
          ? nextVersion('timestamp', base.timestamp.signed.version, opts.versions?.timestamp)
          : (opts.versions?.timestamp ?? 1),
        specVersion: SPEC_VERSION,
        expires: expiry('timestamp'),
        snapshotMeta: metaFileFor(snapshot.signed.version, digestBuffer(snapshotBytes)),
      }),
    );
    await signRole(root, 'timestamp', timestamp, opts.signers);

    const files: [string, Buffer][] = [
      ...this.newRoots.map((r): [string, Buffer] => [`${r.signed.version}.root.json`, serializeMetadata(r)]),
      [`${targets.signed.version}.targets.json`, targetsBytes],
      [`${snapshot.signed.version}.snapshot.json`, snapshotBytes],
      ['timestamp.json', serializeMetadata(timestamp)],
    ];

    const writeInto = async (repoDir: string): Promise<void> => {
      for (const [name, file] of this.staged) {
        const dest = join(repoDir, TARGETS_DIR, hashedTargetPath(name, file.digest.sha256));
        if (!(await exists(dest))) await placeFileAtomic(file.src, dest, opts.link ?? false);
      }
      await mkdir(join(repoDir, TARGETS_DIR), { recursive: true });
      // timestamp.json is last: until it is replaced, clients see the previous repository.
      for (const [name, data] of files) writeFileAtomic(join(repoDir, METADATA_DIR, name), data);
    };

    if (base) {
      await writeInto(dir);
    } else {
      await publishNewDirectory(dir, writeInto);
    }
    this.published = true;
    return {
      dir,
      metadataDir: join(dir, METADATA_DIR),
      targetsDir: join(dir, TARGETS_DIR),
      versions: {
        root: this.root.signed.version,
        targets: targets.signed.version,
        snapshot: snapshot.signed.version,
        timestamp: timestamp.signed.version,
      },
    };
  }
}

/** Builds a whole directory next to `dir` and renames it into place; `dir` must be absent or empty. */
async function publishNewDirectory(dir: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
  if (await exists(dir)) {
    const entries = await readdir(dir);
    if (entries.length > 0) throw new RepositoryError(`${dir} already exists and is not empty; use update to change a repository`);
  }
  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.partial-${process.pid}-${Date.now()}`;
  try {
    await mkdir(tmp);
    await build(tmp);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
