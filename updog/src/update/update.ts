/**
 * The update operations on a host: prepare (download and write the chosen image to the inactive
 * set), apply (boot it next), revert (undo apply). Write order, so that a crash at any byte
 * leaves a disk that boots a complete image (DESIGN.md 5):
 *   migrations, manifest and TUF metadata staged for the migrator -> clear-inactive (persisted) -> root, boot, hash written and verified -> fsync
 *   -> mark-inactive-valid
 * The inactive set cannot boot between clear-inactive and mark-inactive-valid, and the active set is
 * never written.
 */
import { open } from 'node:fs/promises';
import type { HostContext } from '../config/host-context.js';
import { NothingToDo, UserError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { blockIndexTargetName } from '../block-index/format.js';
import { BlockInstallUnavailable, installFromBlocks, type StoredBytes } from '../block-install/block-install.js';
import { installImage, type InstalledImage } from '../install/install-image.js';
import { releaseGarbage } from '../install/young-gc.js';
import type { PartitionExtent } from '../install/partition-writer.js';
import type { ProgressListener } from '../install/progress.js';
import type { Update } from '../manifest/manifest.js';
import type { PartitionSet, SetName } from '../partitions/partition-sets.js';
import { selectUpdate } from '../selection/selection.js';
import { resolveDiskOptions, type DiskOptions } from '../signpost/disk-options.js';
import { describeFlags } from '../gpt/attribute-flags.js';
import { Signpost } from '../signpost/signpost.js';
import { MANIFEST_TARGET, openUpdateRepository, type TargetLocation, type UpdateRepository } from '../tuf/repository.js';
import { crashAfterBytes, crashPoint } from './crash-points.js';
import { DEFAULT_MIGRATIONS_DIR, DEFAULT_MIGRATOR_METADATA_DIR } from '../config/host-context.js';
import { fetchMigrations, resolveMigrations, type FetchedMigration } from './migrations.js';
import { stageMigratorMetadata } from './migrator-metadata.js';

/** The images of a set, in the order they are written. */
export const IMAGE_ORDER = ['root', 'boot', 'hash'] as const;
export type ImageKind = (typeof IMAGE_ORDER)[number];

export interface PrepareOptions {
  ctx: HostContext;
  disk: DiskOptions;
  /** `--image V`: exactly this version (error if the repository does not offer it). */
  version?: string;
  /** Ignore wave timing (also on when updog.toml says so). */
  ignoreWaves?: boolean;
  onProgress?: ProgressListener;
  /** Selection clock; default now. */
  now?: Date;
  /** Cancels the downloads (the host API's cancel). */
  signal?: AbortSignal;
}

export interface PreparedUpdate {
  version: string;
  variant: string;
  arch: string;
  /** The set now holding the new image (the inactive set). */
  set: SetName;
  images: Record<ImageKind, { target: string } & InstalledImage>;
  /** Migrations from the running version to this one, in the order they run. */
  migrations: FetchedMigration[];
}

/**
 * Picks the update this host should take and writes it to the inactive set, leaving the set
 * valid but not yet preferred (run `applyUpdate` to boot it next). Returns undefined when there
 * is nothing to install.
 */
export async function prepareUpdate(opts: PrepareOptions): Promise<PreparedUpdate | undefined> {
  const { ctx } = opts;
  const repo = await openUpdateRepository(ctx, opts.signal === undefined ? {} : { signal: opts.signal });
  try {
    const update = chooseUpdate(repo, opts);
    if (update === undefined) return undefined;
    // Resolve every target before touching the disk: a repository problem changes nothing.
    const targets = {} as Record<ImageKind, ImageTargets>;
    for (const kind of IMAGE_ORDER) {
      const image = await repo.target(update.images[kind]);
      targets[kind] = { image, blockIndex: await repo.optionalTarget(blockIndexTargetName(image.name)) };
    }
    const migrationTargets = await resolveMigrations(repo, repo.manifest.migrations, ctx.os.versionId, update.version);
    const manifestTarget = await repo.target(MANIFEST_TARGET);

    const resolved = resolveDiskOptions(opts.disk);
    const signpost = await Signpost.open({ ...resolved, logger: ctx.logger });
    await refuseIfActiveCannotBoot(signpost);
    // The new image's migrator needs them at boot, as upstream stages them: a failure here leaves the disk untouched.
    const migrations = await fetchMigrations({
      targets: migrationTargets,
      manifest: manifestTarget,
      consistentSnapshot: repo.consistentSnapshot,
      dir: ctx.paths.migrationsDir ?? DEFAULT_MIGRATIONS_DIR,
      download: repo.download,
      logger: ctx.logger,
    });
    await stageMigratorMetadata({
      cacheDir: ctx.paths.metadataCache,
      dir: ctx.paths.migratorMetadataDir ?? DEFAULT_MIGRATOR_METADATA_DIR,
      fetchMetadata: repo.fetchMetadata,
      logger: ctx.logger,
    });
    ctx.logger.info({ version: update.version, set: signpost.inactiveSet, disk: resolved.disk }, 'writing update to the inactive set');
    await signpost.clearInactive();
    crashPoint('after-clear-inactive');
    const images = await writeImages(repo, targets, { inactive: signpost.inactive, active: signpost.active }, resolved.disk, opts, ctx.logger);
    crashPoint('before-mark-valid');
    opts.signal?.throwIfAborted(); // cancelled after the last download: the set must not become bootable
    await signpost.markInactiveValid();
    crashPoint('after-mark-valid');
    ctx.logger.info({ version: update.version, set: signpost.inactiveSet }, 'update written and verified; inactive set marked valid');
    return { version: update.version, variant: update.variant, arch: update.arch, set: signpost.inactiveSet, images, migrations };
  } finally {
    await repo.close();
  }
}

function chooseUpdate(repo: UpdateRepository, opts: PrepareOptions): Update | undefined {
  const { config, os } = opts.ctx;
  const update = selectUpdate(repo.manifest, {
    variant: os.variantId,
    arch: os.arch,
    version: os.versionId,
    seed: config.seed,
    versionLock: config.versionLock,
    ignoreWaves: opts.ignoreWaves === true || config.ignoreWaves,
    ...(opts.version === undefined ? {} : { image: opts.version }),
    now: opts.now ?? new Date(),
  });
  if (update === undefined && opts.version !== undefined) {
    const offered = repo.manifest.updates.filter((u) => u.variant === os.variantId && u.arch === os.arch).map((u) => u.version);
    throw new UserError(
      `version ${opts.version} is not offered to ${os.variantId}/${os.arch}${opts.ignoreWaves === true ? '' : ' now (try --ignore-waves)'}; the repository lists: ${offered.join(', ') || 'none'}`,
    );
  }
  return update;
}

/**
 * Clearing the inactive set is only safe when the active set boots on its own: right after an
 * update it may still be on its single try, with the old set as its only fallback.
 */
async function refuseIfActiveCannotBoot(signpost: Signpost): Promise<void> {
  const status = await signpost.status();
  const active = status[status.activeSet];
  if (!active.willBoot) {
    throw new UserError(
      `the running set ${status.activeSet} would not boot again (${describeFlags(active)}): mark this boot successful (signpost mark-successful-boot) before installing another update, so the fallback set is not overwritten`,
    );
  }
}

/** An image target and, when the repository publishes one, its block index. */
interface ImageTargets {
  image: TargetLocation;
  blockIndex: TargetLocation | undefined;
}

async function writeImages(
  repo: UpdateRepository,
  targets: Record<ImageKind, ImageTargets>,
  sets: { inactive: PartitionSet; active: PartitionSet },
  diskPath: string,
  opts: PrepareOptions,
  logger: Logger,
): Promise<PreparedUpdate['images']> {
  const disk = await open(diskPath, 'r+').catch((err: Error) => {
    throw new UserError(`cannot open disk ${diskPath} for writing: ${err.message}`, { cause: err });
  });
  try {
    const images = {} as PreparedUpdate['images'];
    for (const kind of IMAGE_ORDER) {
      const { image, blockIndex } = targets[kind];
      crashPoint(`before-image:${kind}`);
      const common = {
        image: kind,
        source: image,
        download: repo.download,
        disk,
        partition: extent(sets.inactive[kind]),
        ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
        onBlockWritten: (bytes: number) => crashAfterBytes('write', kind, bytes),
      };
      let written: InstalledImage | undefined;
      if (blockIndex === undefined) {
        logger.info({ image: kind, target: image.name }, 'no block index published: streaming the whole image');
      } else {
        const onBlockStored = (stored: StoredBytes): void => {
          crashAfterBytes('local', kind, stored.local);
          crashAfterBytes('fetched', kind, stored.fetched);
        };
        written = await installFromBlocks({ ...common, index: blockIndex, active: extent(sets.active[kind]), logger, onBlockStored }).catch((err: unknown) => {
          if (!(err instanceof BlockInstallUnavailable)) throw err;
          logger.warn({ image: kind, target: image.name, reason: err.message }, 'block install not possible: streaming the whole image');
          releaseGarbage(); // the block install's index and plan, before the stream allocates
          return undefined;
        });
      }
      written ??= await installImage(common);
      logger.info({ image: kind, target: image.name, partition: sets.inactive[kind].label, ...written }, 'image written and verified');
      images[kind] = { target: image.name, ...written };
      releaseGarbage(); // this image's buffers, before the next image allocates its own
      crashPoint(`after-image:${kind}`);
    }
    await disk.sync();
    return images;
  } finally {
    await disk.close();
  }
}

function extent(partition: PartitionSet[ImageKind]): PartitionExtent {
  return { offset: partition.offset, size: partition.size, label: partition.label || `partition ${partition.number}` };
}

/** Boots the staged update next (signpost upgrade-to-inactive). */
export async function applyUpdate(disk: DiskOptions, logger?: Logger): Promise<void> {
  const signpost = await Signpost.open({ ...resolveDiskOptions(disk), ...(logger === undefined ? {} : { logger }) });
  const status = await signpost.status();
  const inactive = status[status.inactiveSet];
  if (inactive.priority > status[status.activeSet].priority) {
    throw new NothingToDo(`the update in set ${status.inactiveSet} is already applied; reboot to use it`);
  }
  if (inactive.triesLeft === 0 || inactive.successful) {
    throw new NothingToDo(`no update is staged in set ${status.inactiveSet} (${describeFlags(inactive)}); run updog update-image first`);
  }
  await signpost.upgradeToInactive();
  crashPoint('after-upgrade');
}

/** Undoes `applyUpdate`: the running set stays the one to boot (signpost cancel-upgrade). */
export async function revertUpdate(disk: DiskOptions, logger?: Logger): Promise<void> {
  const signpost = await Signpost.open({ ...resolveDiskOptions(disk), ...(logger === undefined ? {} : { logger }) });
  const status = await signpost.status();
  const inactive = status[status.inactiveSet];
  // applied = the inactive set outranks the running one (upgrade-to-inactive gives it 2 vs 1)
  if (inactive.priority <= status[status.activeSet].priority) {
    throw new NothingToDo(`no update is applied: set ${status.inactiveSet} is not the next to boot (${describeFlags(inactive)})`);
  }
  await signpost.cancelUpgrade();
}
