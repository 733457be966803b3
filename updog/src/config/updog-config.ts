import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { isVersion } from '../manifest/semver.js';
import { BYTE_RATE_FORM, parseByteRate } from '../net/byte-rate.js';
import { DEFAULT_DOWNLOAD_LIMITS, type DownloadLimits } from '../net/download-limits.js';
import { MAX_SEED } from '../waves/waves.js';
import { ConfigError } from './config-error.js';

/** /etc/updog.toml (DESIGN.md 4), Bottlerocket-compatible field names in snake_case on disk. */
export interface UpdogConfig {
  metadataBaseUrl: string;
  targetsBaseUrl: string;
  seed: number;
  /** `latest`, `X.Y.Z` or `vX.Y.Z`. */
  versionLock: string;
  ignoreWaves: boolean;
  httpsProxy?: string;
  noProxy?: string[];
  /** The `[download]` table over the defaults (README "Download limits"). */
  download: DownloadLimits;
}

/** The `[download]` key of the bandwidth cap (a byte rate, not a plain integer). */
const MAX_RATE_KEY = 'max_download_rate';

/** `[download]` integer keys and the limit each sets, with the smallest value that makes sense. */
const DOWNLOAD_KEYS: Record<string, { field: keyof DownloadLimits; min: number }> = {
  request_timeout_ms: { field: 'requestTimeoutMs', min: 1 },
  min_bytes_per_second: { field: 'minBytesPerSecond', min: 1 },
  retries: { field: 'retries', min: 0 },
  retry_backoff_ms: { field: 'retryBackoffMs', min: 0 },
  max_redirects: { field: 'maxRedirects', min: 0 },
};

export function loadUpdogConfig(path: string): UpdogConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot read the updog configuration: ${(err as Error).message}`, err);
  }
  return parseUpdogConfig(text, path);
}

/** Parses updog.toml text; `file` only names the source in error messages. */
export function parseUpdogConfig(text: string, file: string): UpdogConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new ConfigError(file, `not valid TOML: ${(err as Error).message.split('\n')[0]}`, err);
  }
  const bad = (key: string, problem: string): never => {
    throw new ConfigError(file, `field "${key}" ${problem}`);
  };
  const required = (key: string): unknown => (key in doc ? doc[key] : bad(key, 'is missing'));
  const url = (key: string): string => {
    const v = required(key);
    if (typeof v !== 'string' || !/^https?:\/\//.test(v) || !URL.canParse(v)) return bad(key, 'must be an http:// or https:// URL');
    return v;
  };

  const seed = required('seed');
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0) bad('seed', `must be an integer from 0 to ${MAX_SEED}`);
  if ((seed as number) > MAX_SEED) bad('seed', `is ${String(seed)}, above the maximum seed ${MAX_SEED}`);

  const versionLock = required('version_lock');
  if (typeof versionLock !== 'string' || (versionLock !== 'latest' && !isVersion(versionLock.replace(/^v/, '')))) {
    bad('version_lock', 'must be "latest" or a version like "1.26.1" or "v1.26.1"');
  }
  const ignoreWaves = required('ignore_waves');
  if (typeof ignoreWaves !== 'boolean') bad('ignore_waves', 'must be true or false');

  const config: UpdogConfig = {
    metadataBaseUrl: url('metadata_base_url'),
    targetsBaseUrl: url('targets_base_url'),
    seed: seed as number,
    versionLock: versionLock as string,
    ignoreWaves: ignoreWaves as boolean,
    download: parseDownloadLimits(doc.download, bad),
  };
  if (doc.https_proxy !== undefined) {
    if (typeof doc.https_proxy !== 'string' || !URL.canParse(doc.https_proxy)) bad('https_proxy', 'must be a proxy URL like "http://proxy:3128"');
    config.httpsProxy = doc.https_proxy as string;
  }
  if (doc.no_proxy !== undefined) {
    const list = doc.no_proxy;
    if (!Array.isArray(list) || !list.every((h): h is string => typeof h === 'string')) bad('no_proxy', 'must be a list of host names, e.g. ["localhost", ".internal"]');
    config.noProxy = list as string[];
  }
  return config;
}

function parseDownloadLimits(table: unknown, bad: (key: string, problem: string) => never): DownloadLimits {
  const limits = { ...DEFAULT_DOWNLOAD_LIMITS };
  if (table === undefined) return limits;
  if (typeof table !== 'object' || table === null || Array.isArray(table)) return bad('download', 'must be a table ([download])');
  for (const [key, value] of Object.entries(table)) {
    if (key === MAX_RATE_KEY) {
      limits.maxBytesPerSecond = parseByteRate(value) ?? bad(`download.${key}`, `must be ${BYTE_RATE_FORM}`);
      continue;
    }
    const known = DOWNLOAD_KEYS[key];
    if (known === undefined) bad(`download.${key}`, `is not a download setting; known: ${[...Object.keys(DOWNLOAD_KEYS), MAX_RATE_KEY].join(', ')}`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < known!.min) {
      bad(`download.${key}`, `must be an integer of at least ${known!.min}`);
    }
    limits[known!.field] = value as number;
  }
  return limits;
}
