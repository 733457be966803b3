import { join } from 'node:path';
import { RepositoryError as MetadataVerificationError } from '@tufjs/models/dist/error.js';
import { Updater } from 'tuf-js';
import { DownloadError, PersistError, RepositoryError } from 'tuf-js/dist/error.js';
import type { Dispatcher } from 'undici';
import { writeFileAtomic } from '../common/durable-file.js';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { DownloadFailedError } from '../net/bounded-download.js';
import type { DownloadLimits } from '../net/download-limits.js';
import { UndiciFetcher } from './fetcher.js';
import { makeTargetsJsonLinear } from './targets-json.js';

// before any Updater parses targets metadata (see targets-json.ts)
makeTargetsJsonLinear();

/** The repository's metadata could not be fetched or did not verify. */
export class TufError extends UserError {}

export interface UpdaterSettings {
  metadataDir: string;
  metadataUrl: string;
  targetBaseUrl?: string;
  targetDir?: string;
  dispatcher: Dispatcher;
  queryParams?: Record<string, string>;
  limits?: DownloadLimits;
  logger?: Logger;
  signal?: AbortSignal;
}

/** A tuf-js Updater, and how to run its steps so that their errors read as one line. */
export interface TufClient {
  updater: Updater;
  /** Runs a step of `updater`, turning its errors into one operator-readable TufError. */
  step<T>(what: string, run: (updater: Updater) => Promise<T>): Promise<T>;
}

/** A tuf-js Updater on the bounded fetcher. One per refresh: tuf-js refreshes once per instance. */
export function createUpdater(s: UpdaterSettings): TufClient {
  const fetcher = new UndiciFetcher({
    dispatcher: s.dispatcher,
    ...(s.queryParams === undefined ? {} : { queryParams: s.queryParams }),
    ...(s.limits === undefined ? {} : { limits: s.limits }),
    ...(s.logger === undefined ? {} : { logger: s.logger }),
    ...(s.signal === undefined ? {} : { signal: s.signal }),
  });
  let updater: Updater;
  try {
    updater = new Updater({
      metadataDir: s.metadataDir,
      metadataBaseUrl: s.metadataUrl,
      ...(s.targetBaseUrl === undefined ? {} : { targetBaseUrl: s.targetBaseUrl }),
      ...(s.targetDir === undefined ? {} : { targetDir: s.targetDir }),
      fetcher,
    });
  } catch (err) {
    throw tufError(err, `cannot load the trusted metadata in ${s.metadataDir}`);
  }
  persistDurably(updater, s.metadataDir);
  return {
    updater,
    async step(what, run) {
      fetcher.failure = undefined;
      try {
        return await run(updater);
      } catch (err) {
        // a download failure tuf-js flattened into a RuntimeError's text: report the original
        throw tufError(fetcher.failure ?? err, what);
      }
    },
  };
}

/**
 * tuf-js (still 6.0.2) writes each verified metadata file over the cached one in place: a crash mid-write
 * leaves a torn file, and a torn timestamp or snapshot loses the version floor that protects the
 * host from rollback attacks. Its (private) persistMetadata is replaced, on this instance, by an
 * atomic, synced write of the same bytes to the same name.
 */
function persistDurably(updater: Updater, metadataDir: string): void {
  (updater as unknown as { persistMetadata: (role: string, bytes: Buffer) => void }).persistMetadata = (role, bytes) => {
    const name = `${encodeURIComponent(role)}.json`;
    try {
      writeFileAtomic(join(metadataDir, name), bytes);
    } catch (err) {
      throw new PersistError(`Failed to persist metadata ${name}: ${(err as Error).message}`);
    }
  };
}

function tufError(err: unknown, what: string): TufError {
  if (err instanceof DownloadFailedError) return new TufError(`${what}: ${err.message}`, { cause: err });
  if (err instanceof UserError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const verification = e instanceof RepositoryError || e instanceof MetadataVerificationError;
  const kind = verification ? 'verification failed' : e instanceof DownloadError ? 'download failed' : 'failed';
  // tuf-js error names (ExpiredMetadataError, BadVersionError, ...) say what kind of attack or fault it was.
  return new TufError(`${what}: ${kind}: ${e.constructor.name}: ${e.message}`, { cause: err });
}
