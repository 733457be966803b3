/**
 * The migrations an update needs: the targets of the migration path from the running version to
 * the chosen one (DESIGN.md 3), downloaded and checked against their signed length and sha256
 * into the migrations directory, where the new image's migrator finds them at boot. Each file
 * appears whole or not at all (temp file in the same directory, fsync, rename, fsync the
 * directory); a file already there with the signed sha256 is kept as is.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Dispatcher } from 'undici';
import { syncPath } from '../common/durable-file.js';
import { UserError } from '../common/errors.js';
import { DIR_MODE, FILE_MODE } from '../common/file-modes.js';
import type { Logger } from '../common/log.js';
import { openHttpBody, verifyTargetBytes, type HttpBody } from '../install/verified-download.js';
import type { Migration } from '../manifest/manifest.js';
import { migrationPath } from '../selection/selection.js';
import type { TargetLocation, UpdateRepository } from '../tuf/repository.js';

export const DEFAULT_MIGRATIONS_DIR = '/var/lib/bottlerocket-migrations';

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
  targets: TargetLocation[];
  dir: string;
  dispatcher: Dispatcher;
  logger: Logger;
}

/**
 * Puts every target into `dir`, in order. No targets: nothing is created. On failure the file
 * being written is removed (migrations completed before it stay: each is whole and verified).
 */
export async function fetchMigrations(o: FetchMigrationsOptions): Promise<FetchedMigration[]> {
  if (o.targets.length === 0) return [];
  const created = await mkdir(o.dir, { recursive: true, mode: DIR_MODE }).catch((err: Error) => {
    throw new MigrationError(`cannot create the migrations directory ${o.dir}: ${err.message}`, { cause: err });
  });
  // new directories, durably: each one's entry lives in its parent
  if (created !== undefined) for (let dir = o.dir; dir !== dirname(created); dir = dirname(dir)) await syncPath(dirname(dir));
  await removePartialFiles(o.dir);
  const fetched: FetchedMigration[] = [];
  for (const target of o.targets) {
    const file = join(o.dir, target.name);
    if (await holdsTarget(file, target)) {
      o.logger.info({ migration: target.name, file }, 'migration already present');
      fetched.push({ target: target.name, file, sha256: target.sha256, downloaded: false });
      continue;
    }
    try {
      await downloadAtomically(target, file, o.dir, o.dispatcher);
    } catch (err) {
      // verification errors already start with the target name
      const message = (err as Error).message;
      const reason = message.startsWith(`${target.name}: `) ? message.slice(target.name.length + 2) : message;
      throw new MigrationError(`migration ${target.name}: ${reason}`, { cause: err });
    }
    o.logger.info({ migration: target.name, file, bytes: target.length }, 'migration downloaded and verified');
    fetched.push({ target: target.name, file, sha256: target.sha256, downloaded: true });
  }
  // the renames, durably, before the caller writes an image that needs them: also those of files
  // kept from a run that stopped after its rename and before its directory sync
  await syncPath(o.dir);
  return fetched;
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

async function downloadAtomically(target: TargetLocation, file: string, dir: string, dispatcher: Dispatcher): Promise<void> {
  const temp = join(dir, `${PARTIAL_PREFIX}${randomBytes(6).toString('hex')}`);
  const out = await open(temp, 'wx', FILE_MODE);
  let http: HttpBody | undefined;
  try {
    http = await openHttpBody(target.url, dispatcher);
    for await (const chunk of verifyTargetBytes(http.body, target)) await out.write(chunk);
    await out.sync();
    await out.close();
    await rename(temp, file);
  } catch (err) {
    await out.close().catch(() => undefined); // may be closed already
    await rm(temp, { force: true });
    throw err;
  } finally {
    http?.close();
  }
}
