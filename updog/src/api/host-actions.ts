/**
 * The update API's host, made of the real updog pieces: os-release and updog.toml (re-read on
 * every call: a reboot changes what runs), the signpost flags of the disk, the TUF repository,
 * the installer, the update lock, the reboot command and the health check.
 */
import { readFile } from 'node:fs/promises';
import { withMaxRate, type HostContext, type HostPaths } from '../config/host-context.js';
import type { Logger } from '../common/log.js';
import type { ProgressListener } from '../install/progress.js';
import { NothingToDo } from '../common/errors.js';
import { loadOsRelease } from '../config/os-release.js';
import { loadUpdogConfig } from '../config/updog-config.js';
import { hostSelection } from '../selection/host-selection.js';
import { applicableUpdates, selectUpdate } from '../selection/selection.js';
import { resolveDiskOptions, type DiskOptions } from '../signpost/disk-options.js';
import { Signpost } from '../signpost/signpost.js';
import { openUpdateRepository } from '../tuf/repository.js';
import { withUpdateLock } from '../update/lock.js';
import { applyUpdate, prepareUpdate, revertUpdate } from '../update/update.js';
import type { UpdateImage } from './protocol.js';
import type { RefreshResult } from './state-rules.js';
import type { HostFacts, UpdateHost } from './update-host.js';

export const DEFAULT_BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

export interface UpdateHostOptions {
  paths: HostPaths;
  disk: DiskOptions;
  lockFile: string;
  /** Reboots the host (`rebootHost` with the configured command; a simulated node's reboot in tests). */
  reboot: () => Promise<void>;
  /** Throws when the host is unhealthy, which keeps the boot from being marked successful. */
  healthCheck?: () => Promise<void>;
  /** The current boot's id (`bootIdFromFile` on a real host). */
  bootId: () => Promise<string>;
  logger: Logger;
  /** `--max-rate`: the bandwidth cap over updog.toml's, in bytes per second. */
  maxRate?: number;
}

export function createUpdateHost(opts: UpdateHostOptions): UpdateHost {
  const { paths, disk, logger } = opts;

  function context(): HostContext {
    return { config: withMaxRate(loadUpdogConfig(paths.config), opts.maxRate), os: loadOsRelease(paths.osRelease), paths, logger };
  }

  const openSignpost = () => Signpost.open({ ...resolveDiskOptions(disk), logger });

  return {
    async facts(): Promise<HostFacts> {
      const os = loadOsRelease(paths.osRelease);
      const status = await (await openSignpost()).status();
      const inactive = status[status.inactiveSet];
      return {
        activeSet: status.activeSet,
        running: { variant: os.variantId, arch: os.arch, version: os.versionId },
        nextToBoot: status.nextBoot,
        // A staged image keeps its single try until it is booted (or fallen back from).
        inactiveValid: inactive.triesLeft > 0,
        activeBootSuccessful: status[status.activeSet].successful,
        bootId: await opts.bootId(),
      };
    },

    async refresh(signal?: AbortSignal): Promise<RefreshResult> {
      const ctx = context();
      const repo = await openUpdateRepository(ctx, signal === undefined ? {} : { signal });
      await repo.close();
      const host = hostSelection(ctx);
      const chosen = selectUpdate(repo.manifest, host);
      // Every version the repository offers this variant and arch: the operator may pick any of
      // them (it staggers the rollout itself); the host's own choice follows waves and the lock.
      const offered = applicableUpdates(repo.manifest, { ...host, ignoreWaves: true })
        .map((a) => a.update.version)
        .filter((v) => v !== host.version);
      return { availableUpdates: offered, chosenUpdate: chosen ? image(chosen) : null };
    },

    async prepare(version: string, signal?: AbortSignal, onProgress?: ProgressListener): Promise<UpdateImage> {
      const ctx = context();
      const prepared = await prepareUpdate({
        ctx,
        disk,
        version,
        ignoreWaves: true,
        ...(signal === undefined ? {} : { signal }),
        ...(onProgress === undefined ? {} : { onProgress }),
      });
      if (prepared === undefined) throw new NothingToDo(`version ${version} is not available for ${ctx.os.variantId} ${ctx.os.arch}`);
      return { variant: ctx.os.variantId, arch: ctx.os.arch, version: prepared.version };
    },

    activate: () => applyUpdate(disk, logger),
    deactivate: () => revertUpdate(disk, logger),
    reboot: () => opts.reboot(),

    async markSuccessfulBoot(): Promise<void> {
      await opts.healthCheck?.();
      await (await openSignpost()).markSuccessfulBoot();
    },

    withLock: (fn) => withUpdateLock(opts.lockFile, fn),
  };
}

function image(u: { variant: string; arch: string; version: string }): UpdateImage {
  return { variant: u.variant, arch: u.arch, version: u.version };
}

/** Reads the boot id from a file; empty when the system has none (then reboots cannot be told apart). */
export async function bootIdFromFile(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}
