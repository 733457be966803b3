/**
 * Loads a repository written by these tools from disk and verifies it the way a client would:
 * the root chain (each version signed by the previous and its own root threshold), then
 * timestamp -> snapshot -> targets with versions, lengths, hashes, signatures and expiry.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata, MetadataKind, type MetaFile, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import { targetsMetadataFromJson, type AnyMetadata, type JSONObject } from './metadata-json.js';
import { requireThreshold } from './signing.js';

export const METADATA_DIR = 'metadata';
export const TARGETS_DIR = 'targets';

export class RepositoryError extends UserError {}
export class ExpiredError extends RepositoryError {}

export interface LoadedRepository {
  dir: string;
  /** Every root version on disk, oldest first. */
  roots: Metadata<Root>[];
  root: Metadata<Root>;
  targets: Metadata<Targets>;
  snapshot: Metadata<Snapshot>;
  timestamp: Metadata<Timestamp>;
}

export interface LoadOptions {
  now?: Date;
  /** Accept expired metadata (e.g. to refresh a repository that was left to expire). */
  allowExpired?: boolean;
}

async function readJson(path: string): Promise<{ raw: Buffer; json: JSONObject }> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new RepositoryError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return { raw, json: JSON.parse(raw.toString('utf8')) as JSONObject };
  } catch (err) {
    throw new RepositoryError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function parseMetadata<T>(path: string, kind: MetadataKind, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new RepositoryError(`${path}: malformed ${kind} metadata: ${(err as Error).message}`, { cause: err });
  }
}

/** Root versions present as `N.root.json`, ascending. */
export async function rootVersionsOnDisk(metadataDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(metadataDir);
  } catch (err) {
    throw new RepositoryError(`${metadataDir}: not a repository (${(err as Error).message})`, { cause: err });
  }
  return names
    .map((n) => /^([1-9]\d*)\.root\.json$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Parses one root file; no signature check (callers decide which thresholds apply). */
export async function loadRootFile(path: string): Promise<Metadata<Root>> {
  const { json } = await readJson(path);
  return parseMetadata(path, MetadataKind.Root, () => Metadata.fromJSON(MetadataKind.Root, json));
}

function checkMetaFile(meta: MetaFile, raw: Buffer, what: string): void {
  try {
    meta.verify(raw);
  } catch (err) {
    throw new RepositoryError(`${what} does not match the length/hashes recorded for it: ${(err as Error).message}`, { cause: err });
  }
}

function checkExpiry(md: AnyMetadata, what: string, opts: LoadOptions): void {
  if (!opts.allowExpired && md.signed.isExpired(opts.now ?? new Date())) {
    throw new ExpiredError(`${what} expired at ${md.signed.expires}; refresh it, or force to accept an expired repository`);
  }
}

export async function loadRepository(dir: string, opts: LoadOptions = {}): Promise<LoadedRepository> {
  const metadataDir = join(dir, METADATA_DIR);
  const versions = await rootVersionsOnDisk(metadataDir);
  if (versions.length === 0) throw new RepositoryError(`${metadataDir} holds no N.root.json: not a repository`);

  const roots: Metadata<Root>[] = [];
  for (const [i, version] of versions.entries()) {
    const path = join(metadataDir, `${version}.root.json`);
    const root = await loadRootFile(path);
    if (root.signed.version !== version) {
      throw new RepositoryError(`${path} holds root version ${root.signed.version}`);
    }
    const prev = roots[i - 1];
    if (prev) {
      if (version !== prev.signed.version + 1) throw new RepositoryError(`root version ${prev.signed.version + 1} is missing in ${metadataDir}`);
      requireThreshold(prev.signed, 'root', root, `${path} (signed by the previous root)`);
    }
    requireThreshold(root.signed, 'root', root, path);
    roots.push(root);
  }
  const root = roots[roots.length - 1]!;
  checkExpiry(root, `root version ${root.signed.version}`, opts);

  const tsPath = join(metadataDir, 'timestamp.json');
  const tsJson = (await readJson(tsPath)).json;
  const timestamp = parseMetadata(tsPath, MetadataKind.Timestamp, () => Metadata.fromJSON(MetadataKind.Timestamp, tsJson));
  requireThreshold(root.signed, 'timestamp', timestamp, tsPath);
  checkExpiry(timestamp, 'timestamp', opts);

  const snapVersion = timestamp.signed.snapshotMeta.version;
  const snapPath = join(metadataDir, `${snapVersion}.snapshot.json`);
  const snapRead = await readJson(snapPath);
  checkMetaFile(timestamp.signed.snapshotMeta, snapRead.raw, snapPath);
  const snapshot = parseMetadata(snapPath, MetadataKind.Snapshot, () => Metadata.fromJSON(MetadataKind.Snapshot, snapRead.json));
  if (snapshot.signed.version !== snapVersion) throw new RepositoryError(`${snapPath} holds snapshot version ${snapshot.signed.version}`);
  requireThreshold(root.signed, 'snapshot', snapshot, snapPath);
  checkExpiry(snapshot, 'snapshot', opts);

  const targetsMeta = snapshot.signed.meta['targets.json'];
  if (!targetsMeta) throw new RepositoryError(`${snapPath} does not list targets.json`);
  const targetsPath = join(metadataDir, `${targetsMeta.version}.targets.json`);
  const targetsRead = await readJson(targetsPath);
  checkMetaFile(targetsMeta, targetsRead.raw, targetsPath);
  const targets = parseMetadata(targetsPath, MetadataKind.Targets, () => targetsMetadataFromJson(targetsRead.json));
  if (targets.signed.version !== targetsMeta.version) {
    throw new RepositoryError(`${targetsPath} holds targets version ${targets.signed.version}`);
  }
  requireThreshold(root.signed, 'targets', targets, targetsPath);
  checkExpiry(targets, 'targets', opts);

  return { dir, roots, root, targets, snapshot, timestamp };
}
