/**
 * The migrations an update needs: the targets of the migration path from the running version to
 * the chosen one (DESIGN.md 3), and the signed manifest.json through which Bottlerocket's
 * migrator finds them, downloaded and checked against their signed length and sha256 into the
 * migrations directory under the names the repository stores them by (`<sha256>.<name>` with
 * consistent snapshots), where the migrator reads them at boot (README, "Migration staging").
 * Each file appears whole or not at all (temp file in the same directory, fsync, rename, fsync
 * the directory); a file already there with the signed sha256 is kept as is.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncPath } from '../common/durable-file.js';
import { UserError } from '../common/errors.js';
import { DIR_MODE, FILE_MODE } from '../common/file-modes.js';
import type { Logger } from '../common/log.js';
import { downloadTarget, verifyTargetBytes } from '../install/verified-download.js';
import type { DownloadContext } from '../net/bounded-download.js';
import type { Migration } from '../manifest/manifest.js';
import { migrationPath } from '../selection/selection.js';
import type { TargetLocation, UpdateRepository } from '../tuf/repository.js';


/** Prefix of files being written; any found at the start of a run were left by a crash. */
const PARTIAL_PREFIX = '.updog-partial-';

/** A migration of the update, as `--json` reports it. */
export interface FetchedMigration {
  target: string;
  /** Where it is now. */
  file: string;
  sha256: string;
  /** False when the file was already there with the signed sha256. */
  downloaded: boolean;
}

/** A migration target could not be resolved, downloaded or verified. */
export class MigrationError extends UserError {}

/**
 * Looks up, in the verified targets metadata, every migration target needed to go from `from`
 * to `to`, in the order they run. Call it before touching the disk: a missing target fails here.
 */
export async function resolveMigrations(
  repo: Pick<UpdateRepository, 'target'>,
  migrations: Migration[],
  from: string,
  to: string,
): Promise<TargetLocation[]> {
  const names = migrationPath(migrations, from, to);
  const targets: TargetLocation[] = [];
  for (const name of names) {
    checkMigrationName(name);
    try {
      targets.push(await repo.target(name));
    } catch (err) {
      throw new MigrationError(`migration ${name} (needed to go from ${from} to ${to}): ${(err as Error).message}`, { cause: err });
    }
  }
  return targets;
}

/** Migration files live directly in the migrations directory: a name must be one plain path segment. */
function checkMigrationName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.startsWith(PARTIAL_PREFIX)) {
    throw new MigrationError(`migration target "${name}" is not a plain file name; the manifest's migrations must name files like migrate_v1.26.0_foo.lz4`);
  }
}

export interface FetchMigrationsOptions {
  /** The migrations, in the order they run. */
  targets: TargetLocation[];
  /** manifest.json: the migrator finds the migrations through it, so it is staged even when there are none. */
  manifest: TargetLocation;
  /** Store as `<sha256>.<name>` (the repository's consistent_snapshot), as tough does. */
  consistentSnapshot: boolean;
  dir: string;
  download: DownloadContext;
  logger: Logger;
}

/** The name a target is stored by, in the repository and in the migrations directory. */
function storedTargetName(target: Pick<TargetLocation, 'name' | 'sha256'>, consistentSnapshot: boolean): string {
  return consistentSnapshot ? `${target.sha256.toLowerCase()}.${target.name}` : target.name;
}

/**
 * Puts every migration, then the manifest, into `dir`. On failure the file being written is
 * removed (files completed before it stay: each is whole and verified).
 */
export async function fetchMigrations(o: FetchMigrationsOptions): Promise<FetchedMigration[]> {
  const created = await mkdir(o.dir, { recursive: true, mode: DIR_MODE }).catch((err: Error) => {
    throw new MigrationError(`cannot create the migrations directory ${o.dir}: ${err.message}`, { cause: err });
  });
  // new directories, durably: each one's entry lives in its parent
  if (created !== undefined) for (let dir = o.dir; dir !== dirname(created); dir = dirname(dir)) await syncPath(dirname(dir));
  await removePartialFiles(o.dir);
  const fetched: FetchedMigration[] = [];
  for (const target of o.targets) {
    const file = join(o.dir, storedTargetName(target, o.consistentSnapshot));
    const downloaded = await stageTarget(target, file, o);
    o.logger.info({ migration: target.name, file, ...(downloaded ? { bytes: target.length } : {}) }, downloaded ? 'migration downloaded and verified' : 'migration already present');
    fetched.push({ target: target.name, file, sha256: target.sha256, downloaded });
  }
  const manifestFile = join(o.dir, storedTargetName(o.manifest, o.consistentSnapshot));
  const manifestDownloaded = await stageTarget(o.manifest, manifestFile, o);
  o.logger.info({ file: manifestFile, downloaded: manifestDownloaded }, 'manifest staged for the migrator');
  // the renames, durably, before the caller writes an image that needs them: also those of files
  // kept from a run that stopped after its rename and before its directory sync
  await syncPath(o.dir);
  return fetched;
}

/** Downloads `target` into `file` unless it already holds it; true when it downloaded. */
async function stageTarget(target: TargetLocation, file: string, o: FetchMigrationsOptions): Promise<boolean> {
  if (await holdsTarget(file, target)) return false;
  try {
    await downloadAtomically(target, file, o.dir, o.download);
  } catch (err) {
    // verification errors already start with the target name
    const message = (err as Error).message;
    const reason = message.startsWith(`${target.name}: `) ? message.slice(target.name.length + 2) : message;
    throw new MigrationError(`${target === o.manifest ? 'manifest' : 'migration'} ${target.name}: ${reason}`, { cause: err });
  }
  return true;
}

async function removePartialFiles(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(PARTIAL_PREFIX)) await rm(join(dir, entry), { force: true });
  }
}

/** The file exists with the target's signed length and sha256. */
async function holdsTarget(file: string, target: TargetLocation): Promise<boolean> {
  const info = await stat(file).catch(() => undefined);
  if (info === undefined || !info.isFile() || info.size !== target.length) return false;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex') === target.sha256.toLowerCase();
}

async function downloadAtomically(target: TargetLocation, file: string, dir: string, download: DownloadContext): Promise<void> {
  const temp = join(dir, `${PARTIAL_PREFIX}${randomBytes(6).toString('hex')}`);
  const out = await open(temp, 'wx', FILE_MODE);
  try {
    for await (const chunk of verifyTargetBytes(downloadTarget(target, download), target)) await out.write(chunk);
    await out.sync();
    await out.close();
    await rename(temp, file);
  } catch (err) {
    await out.close().catch(() => undefined); // may be closed already
    await rm(temp, { force: true });
    throw err;
  }
}
