/**
 * The files of one simulated host: its disk image (Bottlerocket A/B layout with a fake image of
 * the installed version in set A), os-release, active-set file and updog.toml. A simulated node
 * boots this disk; updog/signpost on that "host" point at these paths.
 */
import { mkdirSync, openSync, closeSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBottlerocketDiskImage, findPartitionSets, readGpt, type SetName } from '@updog-ts/updog/disk';
import { makeFakeImage, type FakeImageHeader } from '@updog-ts/updog/image';

export interface SimulatedHostOptions {
  /** Version installed in set A. */
  version: string;
  variant?: string;
  arch?: string;
  buildId?: string;
  /** Wave seed of the host (0..2047). */
  seed?: number;
  metadataBaseUrl?: string;
  targetsBaseUrl?: string;
  /** Partition sizes in bytes (small defaults: 1 MiB boot/hash/private, 4 MiB root). */
  bootSize?: number;
  rootSize?: number;
  hashSize?: number;
}

export interface SimulatedHostFiles {
  dir: string;
  diskImage: string;
  osRelease: string;
  /** Holds `A` or `B`: the set the last simulated boot picked (updog's active-set source). */
  activeSetFile: string;
  updogConfig: string;
}

const MIB = 1024 * 1024;
export const DEFAULT_VARIANT = 'aws-k8s-1.31';
export const DEFAULT_ARCH = 'x86_64';

/** Creates the host's files in `dir` (created if missing). */
export async function createSimulatedHostFiles(dir: string, opts: SimulatedHostOptions): Promise<SimulatedHostFiles> {
  const variant = opts.variant ?? DEFAULT_VARIANT;
  const arch = opts.arch ?? DEFAULT_ARCH;
  const sizes = { bootSize: opts.bootSize ?? MIB, rootSize: opts.rootSize ?? 4 * MIB, hashSize: opts.hashSize ?? MIB, privateSize: MIB };
  mkdirSync(dir, { recursive: true });
  const files: SimulatedHostFiles = {
    dir,
    diskImage: join(dir, 'disk.img'),
    osRelease: join(dir, 'os-release'),
    activeSetFile: join(dir, 'active-set'),
    updogConfig: join(dir, 'updog.toml'),
  };
  await createBottlerocketDiskImage(files.diskImage, sizes);
  writeFakeImageSet(files.diskImage, 'A', { version: opts.version, variant, arch });
  writeFileSync(
    files.osRelease,
    `NAME=Bottlerocket\nID=bottlerocket\nPRETTY_NAME="Bottlerocket OS ${opts.version}"\nVARIANT_ID=${variant}\nVERSION_ID=${opts.version}\nBUILD_ID=${opts.buildId ?? 'simnode'}\nARCH=${arch}\n`,
  );
  writeFileSync(files.activeSetFile, 'A\n');
  writeFileSync(
    files.updogConfig,
    [
      `metadata_base_url = ${JSON.stringify(opts.metadataBaseUrl ?? 'http://127.0.0.1:1/metadata')}`,
      `targets_base_url = ${JSON.stringify(opts.targetsBaseUrl ?? 'http://127.0.0.1:1/targets')}`,
      `seed = ${opts.seed ?? 0}`,
      'version_lock = "latest"',
      'ignore_waves = false',
      '',
    ].join('\n'),
  );
  return files;
}

/**
 * Writes fake boot/root/hash images of `image.version` into partition set `set` of the disk, filling
 * each partition: what an install of that version leaves behind, without a TUF repository. Flags
 * are not touched (use Signpost for that).
 */
export function writeFakeImageSet(diskImage: string, set: SetName, image: { version: string; variant?: string; arch?: string; bad?: boolean }): void {
  const partitions = findPartitionSets(readGpt(diskImage).gpt)[set];
  const fd = openSync(diskImage, 'r+');
  try {
    for (const part of ['boot', 'root', 'hash'] as const) {
      const header: FakeImageHeader = { part, variant: image.variant ?? DEFAULT_VARIANT, arch: image.arch ?? DEFAULT_ARCH, version: image.version, bad: image.bad ?? false };
      writeSync(fd, makeFakeImage(header, partitions[part].size), 0, partitions[part].size, partitions[part].offset);
    }
  } finally {
    closeSync(fd);
  }
}
