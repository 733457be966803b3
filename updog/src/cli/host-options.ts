import { Command, Option } from 'commander';
import { DEFAULT_MIGRATIONS_DIR } from '../config/host-context.js';

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

/** Adds `--migrations-dir`, for the commands that install an update. */
export function addMigrationsDirOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--migrations-dir <dir>', 'where the migrations of an update are put for the new version to run at boot')
      .env('UPDOG_MIGRATIONS_DIR')
      .default(DEFAULT_MIGRATIONS_DIR),
  );
}
