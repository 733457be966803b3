/**
 * Which set is running. On a real host: the set whose ROOT partition holds `/` (through dm-verity
 * when present), found via sysfs. For image files and tests: an explicit set, or a file holding `A`
 * or `B` (written by the boot model when it "boots" an image).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../common/errors.js';
import { decodeDevT, sysfsBlockDir, type DeviceNumber } from '../gpt/block-device.js';
import { parseSetName, type PartitionSets, type SetName } from './partition-sets.js';

export interface RunningRootOptions {
  /** Where sysfs is mounted (tests point this at a fake tree). */
  sysRoot?: string;
  /** The mount point whose device is the running root. */
  rootPath?: string;
}

export type ActiveSetSource = { set: SetName } | { file: string } | { runningRoot: RunningRootOptions };

export interface RunningRoot {
  /** The whole disk, e.g. `sda` (use `/dev/<diskName>`). */
  diskName: string;
  disk: DeviceNumber;
  /** 1-based number of the partition holding the root file system. */
  partitionNumber: number;
}

function parseDevNumber(text: string, where: string): DeviceNumber {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (!match) throw new UserError(`unexpected device number in ${where}: ${JSON.stringify(text)}`);
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/** From a sysfs block device directory to the partition under it, following dm `slaves/` links. */
function partitionDir(dir: string, depth = 0): string {
  if (fs.existsSync(path.join(dir, 'partition'))) return dir;
  const slavesDir = path.join(dir, 'slaves');
  const slaves = fs.existsSync(slavesDir) ? fs.readdirSync(slavesDir) : [];
  if (slaves.length !== 1 || depth > 8) {
    throw new UserError(`cannot tell which partition holds the running root (${dir} is neither a partition nor a single-device mapping); pass --disk and --active-set`);
  }
  return partitionDir(fs.realpathSync(path.join(slavesDir, slaves[0]!)), depth + 1);
}

/** Finds the disk and partition number holding the running root file system via sysfs. */
export function findRunningRoot(options: RunningRootOptions = {}): RunningRoot {
  const sysRoot = options.sysRoot ?? '/sys';
  const rootPath = options.rootPath ?? '/';
  const rootDev = decodeDevT(fs.statSync(rootPath, { bigint: true }).dev);
  const devDir = sysfsBlockDir(rootDev, sysRoot);
  if (!fs.existsSync(devDir)) {
    throw new UserError(`the running root (${rootPath}, device ${rootDev.major}:${rootDev.minor}) is not a block device partition; pass --disk and --active-set`);
  }
  const partDir = partitionDir(fs.realpathSync(devDir));
  const diskDir = path.dirname(partDir);
  return {
    diskName: path.basename(diskDir),
    disk: parseDevNumber(fs.readFileSync(path.join(diskDir, 'dev'), 'utf8'), path.join(diskDir, 'dev')),
    partitionNumber: Number(fs.readFileSync(path.join(partDir, 'partition'), 'utf8').trim()),
  };
}

/** Resolves the active set of `disk` (laid out as `sets`) from `source`. */
export function resolveActiveSet(source: ActiveSetSource, sets: PartitionSets, disk: string): SetName {
  if ('set' in source) return source.set;
  if ('file' in source) {
    let text: string;
    try {
      text = fs.readFileSync(source.file, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read the active set file ${source.file}: ${(err as Error).message}`, { cause: err });
    }
    return parseSetName(text, source.file);
  }
  const running = findRunningRoot(source.runningRoot);
  const diskStat = fs.statSync(disk, { bigint: true });
  const diskDev = diskStat.isBlockDevice() ? decodeDevT(diskStat.rdev) : undefined;
  if (!diskDev || diskDev.major !== running.disk.major || diskDev.minor !== running.disk.minor) {
    throw new UserError(`${disk} does not hold the running root (it is on /dev/${running.diskName}); pass --active-set or --active-set-file`);
  }
  for (const set of ['A', 'B'] as const) {
    if (sets[set].root.number === running.partitionNumber) return set;
  }
  throw new UserError(
    `the running root is partition ${running.partitionNumber} of /dev/${running.diskName}, which is neither ROOT-A (${sets.A.root.number}) nor ROOT-B (${sets.B.root.number})`,
  );
}
