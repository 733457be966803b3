import { Command, Option } from 'commander';
import { loadOsRelease, type OsRelease } from '../config/os-release.js';
import { loadUpdogConfig, type UpdogConfig } from '../config/updog-config.js';
import { createLogger, type Logger, type LogLevel } from '../common/log.js';
import { DEFAULT_MIGRATIONS_DIR } from '../update/migrations.js';
import { DEFAULT_MIGRATOR_METADATA_DIR } from '../update/migrator-metadata.js';

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

/** Options as commander hands them over (`cmd.optsWithGlobals()`). */
export type HostOptions = HostPaths & { logLevel?: LogLevel };

/** Adds the host path options every updog command shares. */
export function addHostOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--config <path>', 'updog configuration').env('UPDOG_CONFIG').default('/etc/updog.toml'))
    .addOption(new Option('--os-release <path>', 'OS identity (variant, version)').env('UPDOG_OS_RELEASE').default('/usr/lib/os-release'))
    .addOption(new Option('--root-json <path>', 'trusted TUF root').env('UPDOG_ROOT_JSON').default('/usr/share/updog/root.json'))
    .addOption(
      new Option('--metadata-cache <dir>', 'verified TUF metadata kept between runs (rollback protection)')
        .env('UPDOG_METADATA_CACHE')
        .default('/var/cache/updog/metadata'),
    );
}

/** Adds `--migrations-dir` and `--migrator-metadata-dir`, for the commands that install an update. */
export function addMigrationStagingOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--migrations-dir <dir>', "where the update's migrations and manifest are put for the new version's migrator")
        .env('UPDOG_MIGRATIONS_DIR')
        .default(DEFAULT_MIGRATIONS_DIR),
    )
    .addOption(
      new Option('--migrator-metadata-dir <dir>', 'where the TUF metadata the migrator verifies them with is put')
        .env('UPDOG_MIGRATOR_METADATA_DIR')
        .default(DEFAULT_MIGRATOR_METADATA_DIR),
    );
}

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
  const config = loadUpdogConfig(paths.config);
  const os = loadOsRelease(paths.osRelease);
  logger.debug({ paths, variant: os.variantId, version: os.versionId, arch: os.arch, seed: config.seed }, 'host context loaded');
  return { config, os, paths, logger };
}
