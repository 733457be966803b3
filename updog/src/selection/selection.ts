import { UserError } from '../common/errors.js';
import type { Manifest, Migration, Update } from '../manifest/manifest.js';
import { compareVersions } from '../manifest/semver.js';
import { readyAt } from '../waves/waves.js';

/** What this host is and how it chooses, from updog.toml, os-release and the command line. */
export interface HostSelection {
  variant: string;
  arch: string;
  /** Running version. */
  version: string;
  seed: number;
  /** `latest`, `X.Y.Z` or `vX.Y.Z`. */
  versionLock: string;
  ignoreWaves: boolean;
  /** `--image V`: pick exactly this version. */
  image?: string;
  now: Date;
}

export interface ApplicableUpdate {
  update: Update;
  readyAt: Date;
}

export class SelectionError extends UserError {}

/**
 * Updates this host could take now: matching variant and arch, version within max_version, and
 * (unless waves are ignored) ready for its seed. Newest first.
 */
export function applicableUpdates(manifest: Manifest, host: Omit<HostSelection, 'version' | 'versionLock' | 'image'>): ApplicableUpdate[] {
  return manifest.updates
    .filter((u) => u.variant === host.variant && u.arch === host.arch && compareVersions(u.version, u.maxVersion) <= 0)
    .map((update) => ({ update, readyAt: readyAt(update, host.seed) }))
    .filter((a) => host.ignoreWaves || a.readyAt.getTime() <= host.now.getTime())
    .sort((a, b) => compareVersions(b.update.version, a.update.version));
}

/** `latest`, or the exact version a lock names (a leading `v` is allowed). */
export function lockedVersion(versionLock: string): string | undefined {
  return versionLock === 'latest' ? undefined : versionLock.replace(/^v/, '');
}

/**
 * The update this host should take, or undefined. `--image` and a version lock pick exactly that
 * version (possibly a downgrade; a lock on the running version means no update). Otherwise the
 * newest update above the running version, or the newest one at all when the running version is
 * above its max_version (a pulled release rolls back).
 */
export function selectUpdate(manifest: Manifest, host: HostSelection): Update | undefined {
  const candidates = applicableUpdates(manifest, host).map((a) => a.update);
  if (host.image !== undefined) {
    return candidates.find((u) => compareVersions(u.version, host.image!) === 0);
  }
  const lock = lockedVersion(host.versionLock);
  if (lock !== undefined) {
    return candidates.find((u) => compareVersions(u.version, lock) === 0 && compareVersions(u.version, host.version) !== 0);
  }
  return candidates.find((u) => compareVersions(host.version, u.version) < 0 || compareVersions(host.version, u.maxVersion) > 0);
}

/**
 * Migration targets to run going from `from` to `to`, in order, as upstream's `find_migrations`:
 * from the current version take, among the migrations starting exactly there, the one reaching
 * furthest without passing the target; a downgrade walks the upgrade path and reverses it. When no
 * migration starts at the current version before the target is reached, the update is refused:
 * installing it without its migrations would leave the data store unmigrated. Unlike upstream, a
 * manifest without any migrations means the repository needs none (README, "Differences").
 * Backward and self edges are rejected up front, so the walk always moves forward and cannot loop.
 */
export function migrationPath(migrations: Migration[], from: string, to: string): string[] {
  for (const m of migrations) {
    if (compareVersions(m.from, m.to) >= 0) {
      throw new SelectionError(`migration (${m.from}, ${m.to}) does not go forward; the manifest's migrations must each go to a newer version`);
    }
  }
  if (migrations.length === 0) return [];
  if (compareVersions(from, to) > 0) return forwardPath(migrations, to, from, `${from} to ${to}`).reverse();
  return forwardPath(migrations, from, to, `${from} to ${to}`);
}

/** The walk from `from` up to `to`; `update` names the update in the refusal. */
function forwardPath(migrations: Migration[], from: string, to: string, update: string): string[] {
  const path: string[] = [];
  let current = from;
  while (compareVersions(current, to) !== 0) {
    const next = migrations
      .filter((m) => compareVersions(m.from, current) === 0 && compareVersions(m.to, to) <= 0)
      .sort((a, b) => compareVersions(b.to, a.to))[0];
    if (next === undefined) {
      throw new SelectionError(
        `reached end of migration chain at ${current} but target is ${to}: the manifest has no migration from ${current} towards ${to}, so the update from ${update} is refused`,
      );
    }
    path.push(...next.targets);
    current = next.to;
  }
  return path;
}
