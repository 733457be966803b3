import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { TargetFile } from '@tufjs/models';
import type { HostContext } from '../config/host-context.js';
import { writeFileAtomic } from '../common/durable-file.js';
import { UserError } from '../common/errors.js';
import { checkOnlyOwnerWrites, DIR_MODE } from '../common/file-modes.js';
import type { Logger } from '../common/log.js';
import { parseManifest, type Manifest } from '../manifest/manifest.js';
import { createDispatcher } from './dispatcher.js';
import { UndiciFetcher, withQuery } from './fetcher.js';
import type { DownloadContext } from '../net/bounded-download.js';
import type { DownloadLimits } from '../net/download-limits.js';
import { createUpdater, TufError, type TufClient } from './updater.js';

export const MANIFEST_TARGET = 'manifest.json';

/** A verified target and where to stream it from; the caller checks length and sha256 itself. */
export interface TargetLocation {
  name: string;
  length: number;
  sha256: string;
  url: string;
}

export interface UpdateRepository {
  /** The verified manifest.json. */
  manifest: Manifest;
  target(name: string): Promise<TargetLocation>;
  /** The same for a target that may be absent (e.g. an image's block index): undefined when not listed. */
  optionalTarget(name: string): Promise<TargetLocation | undefined>;
  /** Whether targets are stored as `<sha256>.<name>` (the root's consistent_snapshot). */
  consistentSnapshot: boolean;
  /** Downloads `<metadata base URL>/<name>` (at most `maxBytes`) as the metadata refresh does; not verified. */
  fetchMetadata(name: string, maxBytes: number): Promise<Buffer>;
  /** How to stream targets: the proxy-aware dispatcher, the download limits, the cancel signal. */
  download: DownloadContext;
  /** Drops the dispatcher's connections (downloads are over by then; nothing waits on a socket). */
  close(): Promise<void>;
}

export interface OpenRepositoryOptions {
  /** Over updog.toml's `[download]` limits. */
  limits?: Partial<DownloadLimits>;
  /** Cancels every download of this repository. */
  signal?: AbortSignal;
}

/**
 * Refreshes the host's TUF metadata from the configured repository and loads the verified
 * manifest. Verified metadata stays in the metadata cache, so the next run rejects anything
 * older (rollback) and the trusted root can rotate.
 */
export async function openUpdateRepository(ctx: HostContext, opts: OpenRepositoryOptions = {}): Promise<UpdateRepository> {
  const { config, os, paths, logger } = ctx;
  seedMetadataCache(paths.metadataCache, paths.rootJson, logger);
  const queryParams = { seed: String(config.seed), version: os.versionId };
  const limits = { ...config.download, ...opts.limits };
  const dispatcher = createDispatcher({
    ...(config.httpsProxy === undefined ? {} : { httpsProxy: config.httpsProxy }),
    ...(config.noProxy === undefined ? {} : { noProxy: config.noProxy }),
    requestTimeoutMs: limits.requestTimeoutMs,
  });
  const signal = opts.signal === undefined ? {} : { signal: opts.signal };
  try {
    const tuf = createUpdater({
      metadataDir: paths.metadataCache,
      metadataUrl: config.metadataBaseUrl,
      targetBaseUrl: config.targetsBaseUrl,
      dispatcher,
      queryParams,
      logger,
      limits,
      ...signal,
    });
    await tuf.step(`TUF metadata from ${config.metadataBaseUrl}`, (u) => u.refresh());
    logger.debug({ metadataCache: paths.metadataCache }, 'TUF metadata refreshed');
    const manifest = parseManifest(await downloadSmallTarget(tuf, MANIFEST_TARGET, config.targetsBaseUrl));
    const consistentSnapshot = readConsistentSnapshot(paths.metadataCache);
    const metadataFetcher = new UndiciFetcher({ dispatcher, queryParams, logger, limits, ...signal });
    const metadataBase = asDirectoryUrl(config.metadataBaseUrl);
    const targetsBase = asDirectoryUrl(config.targetsBaseUrl);
    const locate = (info: TargetFile): TargetLocation => {
      const sha256 = info.hashes.sha256;
      if (sha256 === undefined) throw new TufError(`target ${info.path} has no sha256 hash in the repository metadata`);
      const name = info.path;
      const file = consistentSnapshot ? posix.join(posix.dirname(name), `${sha256}.${posix.basename(name)}`) : name;
      return { name, length: info.length, sha256, url: withQuery(new URL(file, targetsBase).toString(), { ...queryParams, target: name }) };
    };
    return {
      manifest,
      download: { dispatcher, limits, logger, ...signal },
      consistentSnapshot,
      fetchMetadata: (name, maxBytes) =>
        tuf.step(`downloading ${name} from ${config.metadataBaseUrl}`, () => metadataFetcher.downloadBytes(new URL(name, metadataBase).toString(), maxBytes)),
      target: async (name) => locate(await findTarget(tuf, name)),
      optionalTarget: async (name) => {
        const info = await tuf.step(`looking up target ${name}`, (u) => u.getTargetInfo(name));
        return info === undefined ? undefined : locate(info);
      },
      close: () => dispatcher.destroy(),
    };
  } catch (err) {
    // every download has ended (bounded-download destroys what it does not read to the end)
    await dispatcher.destroy();
    throw err;
  }
}

/** A base URL that relative names resolve under (`new URL(name, base)` drops a last segment without `/`). */
function asDirectoryUrl(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/**
 * First run: the cache starts from the trusted root shipped with the OS. Cached files are replaced
 * atomically (updater.ts), but a cache damaged some other way (a bad disk, an older updog) must
 * not stop updates: starting again from the shipped root is safe (every newer root must still be
 * signed by its predecessor).
 */
function seedMetadataCache(cacheDir: string, rootJson: string, logger: Logger): void {
  try {
    mkdirSync(cacheDir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new UserError(`cannot create the metadata cache ${cacheDir}: ${(err as Error).message}`, { cause: err });
  }
  // whoever can write here can replace the root updog trusts
  checkOnlyOwnerWrites(cacheDir, 'the metadata cache');
  const cachedRoot = join(cacheDir, 'root.json');
  if (existsSync(cachedRoot)) {
    checkOnlyOwnerWrites(cachedRoot, 'the cached TUF root');
    if (readRootSigned(cachedRoot) !== undefined) return;
    logger.warn({ cachedRoot, rootJson }, 'cached TUF root is unreadable; starting again from the shipped root');
  }
  let root: Buffer;
  try {
    root = readFileSync(rootJson);
  } catch (err) {
    throw new UserError(`${rootJson}: cannot read the trusted TUF root: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeFileAtomic(cachedRoot, root);
  } catch (err) {
    throw new UserError(`cannot write ${cachedRoot} into the metadata cache: ${(err as Error).message}`, { cause: err });
  }
}

/** The `signed` part of a root.json, or undefined if the file is not one (e.g. torn by a crash). */
function readRootSigned(path: string): { consistent_snapshot?: unknown } | undefined {
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { signed?: { _type?: unknown; consistent_snapshot?: unknown } };
    return doc.signed?._type === 'root' ? doc.signed : undefined;
  } catch {
    return undefined;
  }
}

function readConsistentSnapshot(cacheDir: string): boolean {
  return readRootSigned(join(cacheDir, 'root.json'))?.consistent_snapshot === true;
}

async function findTarget(tuf: TufClient, name: string): Promise<TargetFile> {
  const info = await tuf.step(`looking up target ${name}`, (u) => u.getTargetInfo(name));
  if (info === undefined) throw new TufError(`the repository's signed targets do not list ${name}`);
  return info;
}

/** Downloads and verifies a small target (the manifest) through a private temp dir. */
async function downloadSmallTarget(tuf: TufClient, name: string, targetBaseUrl: string): Promise<string> {
  const info = await findTarget(tuf, name);
  const dir = mkdtempSync(join(tmpdir(), 'updog-target-'));
  try {
    const file = join(dir, 'target');
    await tuf.step(`downloading ${name} from ${targetBaseUrl}`, (u) => u.downloadTarget(info, file));
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
