/**
 * The files of one simulated host: its disk image (Bottlerocket A/B layout with a fake image of
 * the installed version in set A), os-release, active-set file and updog.toml. A simulated node
 * boots this disk; updog/signpost on that "host" point at these paths.
 */
import { mkdirSync, openSync, closeSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBottlerocketDiskImage } from '../../updog/src/gpt/bottlerocket-layout.js';
import { readGpt } from '../../updog/src/gpt/io.js';
import { findPartitionSets } from '../../updog/src/partitions/partition-sets.js';
import { makeFakeImage, type FakeImageHeader } from '../../tuf-repo-tools/src/image/fake-image.js';

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

/** Creates the host's files in `dir` (created if missing). */
export async function createSimulatedHostFiles(dir: string, opts: SimulatedHostOptions): Promise<SimulatedHostFiles> {
  const variant = opts.variant ?? 'aws-k8s-1.31';
  const arch = opts.arch ?? 'x86_64';
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
  const setA = findPartitionSets(readGpt(files.diskImage).gpt).A;
  const fd = openSync(files.diskImage, 'r+');
  try {
    for (const part of ['boot', 'root', 'hash'] as const) {
      const header: FakeImageHeader = { part, variant, arch, version: opts.version, bad: false };
      writeSync(fd, makeFakeImage(header, setA[part].size), 0, setA[part].size, setA[part].offset);
    }
  } finally {
    closeSync(fd);
  }
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
