/**
 * The `--disk` / `--active-set` / `--active-set-file` options shared by `signpost` and updog's
 * disk commands, and their resolution into what `Signpost.open` needs.
 */
import { Command, Option } from 'commander';
import type { ActiveSetSource } from '../partitions/active-set.js';
import { findRunningRoot } from '../partitions/active-set.js';
import { parseSetName } from '../partitions/partition-sets.js';

export interface DiskOptions {
  disk?: string;
  activeSet?: string;
  activeSetFile?: string;
}

export interface ResolvedDisk {
  disk: string;
  activeSet: ActiveSetSource;
}

export function addDiskOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--disk <path>', 'disk image or block device with the A/B partitions (default: the disk holding the running root)').env('UPDOG_DISK'),
    )
    .addOption(
      new Option('--active-set <set>', 'the running set, A or B (default: the set holding the running root)')
        .choices(['A', 'B'])
        .env('UPDOG_ACTIVE_SET')
        .conflicts('activeSetFile'),
    )
    .addOption(new Option('--active-set-file <file>', 'file containing the running set letter (written by simulate-boot)').env('UPDOG_ACTIVE_SET_FILE'));
}

/** Explicit options win; otherwise the running root (via sysfs) gives both the disk and the set. */
export function resolveDiskOptions(opts: DiskOptions, sysRoot?: string): ResolvedDisk {
  const runningRoot = sysRoot === undefined ? {} : { sysRoot };
  const activeSet: ActiveSetSource =
    opts.activeSet !== undefined
      ? { set: parseSetName(opts.activeSet, '--active-set') }
      : opts.activeSetFile !== undefined
        ? { file: opts.activeSetFile }
        : { runningRoot };
  const disk = opts.disk ?? `/dev/${findRunningRoot(runningRoot).diskName}`;
  return { disk, activeSet };
}
