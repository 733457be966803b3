import type { OsRelease } from '../config/os-release.js';
import type { UpdogConfig } from '../config/updog-config.js';
import type { HostSelection } from './selection.js';

/** Per-run choices from the command line or the update API. */
export interface RunChoice {
  /** `--ignore-waves`/`--now`; updog.toml's `ignore_waves` applies either way. */
  ignoreWaves?: boolean;
  /** `--image V`: exactly this version. */
  image?: string;
  now?: Date;
}

/** What selection needs to know about this host, from its configuration and os-release. */
export function hostSelection(host: { config: UpdogConfig; os: OsRelease }, choice: RunChoice = {}): HostSelection {
  return {
    variant: host.os.variantId,
    arch: host.os.arch,
    version: host.os.versionId,
    seed: host.config.seed,
    versionLock: host.config.versionLock,
    ignoreWaves: host.config.ignoreWaves || choice.ignoreWaves === true,
    ...(choice.image === undefined ? {} : { image: choice.image }),
    now: choice.now ?? new Date(),
  };
}
