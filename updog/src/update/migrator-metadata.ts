/**
 * The TUF metadata Bottlerocket's migrator loads at boot, from files and without enforcing expiry,
 * to verify the manifest and the migrations staged for it (README, "Migration staging"). This is
 * what upstream updog's `repository.cache(METADATA_PATH, MIGRATION_PATH, targets, true)` writes:
 *   1.root.json .. N.root.json    every root version up to the one trusted now (N)
 *   timestamp.json
 *   S.snapshot.json, T.targets.json   (snapshot.json, targets.json without consistent snapshots)
 * Timestamp, snapshot, targets and root N are the exact bytes this run verified (the metadata
 * cache). Roots 1..N-1 are fetched again, as tough does, and checked as a chain before anything is
 * written: each is signed by its own root threshold and signs the next one at that threshold.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata, MetadataKind, type Root } from '@tufjs/models';
import { writeFileAtomic } from '../common/durable-file.js';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/log.js';


/** tough's default cap on a root file (max_root_size). */
export const MAX_ROOT_BYTES = 1024 * 1024;

/** The migrator's metadata could not be put together or written. */
export class MigratorMetadataError extends UserError {}

export interface StageMetadataOptions {
  /** updog's metadata cache, refreshed and verified in this run (tuf-js names: root.json, ...). */
  cacheDir: string;
  /** Where the migrator reads it. */
  dir: string;
  /** Downloads `<metadata base URL>/<name>`, at most `maxBytes`. */
  fetchMetadata(name: string, maxBytes: number): Promise<Buffer>;
  logger: Logger;
}

/** Writes the migrator's metadata into `dir`; returns the file names written, in order. */
export async function stageMigratorMetadata(o: StageMetadataOptions): Promise<string[]> {
  const cached = (role: string): { bytes: Buffer; signed: { version: number; consistent_snapshot?: boolean } } => {
    const path = join(o.cacheDir, `${role}.json`);
    try {
      const bytes = readFileSync(path);
      return { bytes, signed: (JSON.parse(bytes.toString('utf8')) as { signed: { version: number } }).signed };
    } catch (err) {
      throw new MigratorMetadataError(`cannot read the verified ${role} metadata ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const root = cached('root');
  const [timestamp, snapshot, targets] = [cached('timestamp'), cached('snapshot'), cached('targets')];
  const consistent = root.signed.consistent_snapshot === true;
  const files: [string, Buffer][] = [
    ...(await rootChain(root.bytes, root.signed.version, o.fetchMetadata)),
    ['timestamp.json', timestamp.bytes],
    [consistent ? `${snapshot.signed.version}.snapshot.json` : 'snapshot.json', snapshot.bytes],
    [consistent ? `${targets.signed.version}.targets.json` : 'targets.json', targets.bytes],
  ];
  for (const [name, bytes] of files) {
    try {
      writeFileAtomic(join(o.dir, name), bytes);
    } catch (err) {
      throw new MigratorMetadataError(`cannot write ${join(o.dir, name)} for the migrator: ${(err as Error).message}`, { cause: err });
    }
  }
  o.logger.info({ dir: o.dir, files: files.map(([name]) => name) }, 'TUF metadata staged for the migrator');
  return files.map(([name]) => name);
}

/** `1.root.json` .. `N.root.json`, the older ones fetched and each checked against the next. */
async function rootChain(trusted: Buffer, version: number, fetchMetadata: StageMetadataOptions['fetchMetadata']): Promise<[string, Buffer][]> {
  const chain: [string, Buffer][] = [[`${version}.root.json`, trusted]];
  let next = parseRoot(trusted, `${version}.root.json`);
  for (let v = version - 1; v >= 1; v--) {
    const name = `${v}.root.json`;
    let bytes: Buffer;
    try {
      bytes = await fetchMetadata(name, MAX_ROOT_BYTES);
    } catch (err) {
      throw new MigratorMetadataError(`root version ${v}, which the migrator's root chain needs: ${(err as Error).message}`, { cause: err });
    }
    const root = parseRoot(bytes, name);
    if (root.signed.version !== v) throw new MigratorMetadataError(`${name} from the repository holds root version ${root.signed.version}`);
    try {
      root.verifyDelegate('root', root);
      root.verifyDelegate('root', next);
    } catch (err) {
      throw new MigratorMetadataError(`${name} from the repository does not chain to root version ${v + 1}: ${(err as Error).message}`, { cause: err });
    }
    chain.unshift([name, bytes]);
    next = root;
  }
  return chain;
}

function parseRoot(bytes: Buffer, name: string): Metadata<Root> {
  try {
    return Metadata.fromJSON(MetadataKind.Root, JSON.parse(bytes.toString('utf8')) as Parameters<typeof Metadata.fromJSON>[1]);
  } catch (err) {
    throw new MigratorMetadataError(`${name} is not root metadata: ${(err as Error).message}`, { cause: err });
  }
}
