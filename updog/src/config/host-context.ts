import { loadOsRelease, type OsRelease } from './os-release.js';
import { loadUpdogConfig, type UpdogConfig } from './updog-config.js';
import { createLogger, type Logger, type LogLevel } from '../common/log.js';

/** Where Bottlerocket's migrator looks for the migrations of the version it boots into. */
export const DEFAULT_MIGRATIONS_DIR = '/var/lib/bottlerocket-migrations';
/** Where the migrator finds the TUF metadata it checks those migrations against. */
export const DEFAULT_MIGRATOR_METADATA_DIR = '/var/cache/bottlerocket-metadata';

/** Where the host's files are; every one overridable by flag or environment variable. */
export interface HostPaths {
  config: string;
  osRelease: string;
  rootJson: string;
  metadataCache: string;
  /** Where an update puts the migrations the new version runs at boot; default DEFAULT_MIGRATIONS_DIR. */
  migrationsDir?: string;
  /** Where an update puts the TUF metadata the migrator verifies them with; default DEFAULT_MIGRATOR_METADATA_DIR. */
  migratorMetadataDir?: string;
}

export interface HostContext {
  config: UpdogConfig;
  os: OsRelease;
  paths: HostPaths;
  logger: Logger;
}

/** The host paths plus the log level and `--max-rate` (bytes per second), as the commands hand them over. */
export type HostOptions = HostPaths & { logLevel?: LogLevel; maxRate?: number };

export async function loadHostContext(opts: HostOptions): Promise<HostContext> {
  const paths: HostPaths = {
    config: opts.config,
    osRelease: opts.osRelease,
    rootJson: opts.rootJson,
    metadataCache: opts.metadataCache,
    ...(opts.migrationsDir === undefined ? {} : { migrationsDir: opts.migrationsDir }),
    ...(opts.migratorMetadataDir === undefined ? {} : { migratorMetadataDir: opts.migratorMetadataDir }),
  };
  const logger = createLogger('updog', opts.logLevel ?? 'info');
  const config = withMaxRate(loadUpdogConfig(paths.config), opts.maxRate);
  const os = loadOsRelease(paths.osRelease);
  logger.debug({ paths, variant: os.variantId, version: os.versionId, arch: os.arch, seed: config.seed }, 'host context loaded');
  return { config, os, paths, logger };
}

/** The config with `--max-rate` (when given) over its `[download] max_download_rate`. */
export function withMaxRate(config: UpdogConfig, maxRate: number | undefined): UpdogConfig {
  return maxRate === undefined ? config : { ...config, download: { ...config.download, maxBytesPerSecond: maxRate } };
}
