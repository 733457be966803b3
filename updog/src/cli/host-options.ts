import { Command, InvalidArgumentError, Option } from 'commander';
import { BYTE_RATE_FORM, parseByteRate } from '../net/byte-rate.js';
import { DEFAULT_MIGRATIONS_DIR, DEFAULT_MIGRATOR_METADATA_DIR } from '../config/host-context.js';

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

/** Adds `--max-rate`, the bandwidth cap over updog.toml's `[download] max_download_rate`. */
export function addMaxRateOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--max-rate <rate>', 'cap on the download rate of all downloads together, e.g. 10MiB (over updog.toml max_download_rate)')
      .env('UPDOG_MAX_RATE')
      .argParser((text) => parseByteRate(text) ?? invalidRate()),
  );
}

function invalidRate(): never {
  throw new InvalidArgumentError(`expected ${BYTE_RATE_FORM}`);
}
