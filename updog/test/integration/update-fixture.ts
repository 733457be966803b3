/**
 * A simulated host for the update tests: a Bottlerocket-layout disk image whose set A holds a
 * fake 1.0.0 image, a signed repository of fake releases (tuf-repo-tools) on loopback, the
 * host's config files, and a boot model that "reboots" the disk and records the running set.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { buildReleaseRepository, hashedTargetPath, loadRepository, makeFakeRelease, setMigrations } from '@updog-ts/tuf-repo-tools';
import { blockIndexTargetName } from '../../src/block-index/format.js';
import { makeFakeImage, type ImagePart } from '../../src/boot/fake-image.js';
import { simulateBoot, type BootResult } from '../../src/boot/gptprio.js';
import { createBottlerocketDiskImage } from '../../src/gpt/bottlerocket-layout.js';
import { readGpt } from '../../src/gpt/io.js';
import { parseManifest, type Manifest, type Migration, type Update } from '../../src/manifest/manifest.js';
import { findPartitionSets, type PartitionSets, type SetName } from '../../src/partitions/partition-sets.js';
import { Signpost, type SignpostStatus } from '../../src/signpost/signpost.js';
import { runBin, UPDOG_BIN, type BinResult } from '../helpers/run-bin.js';
import { startStaticServer, type RequestHook, type StaticServer } from '../helpers/static-server.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

export const VARIANT = 'aws-k8s-1.31';
export const ARCH = 'x86_64';
const MIB = 1024 * 1024;
/** Partition sizes of the test disk; root images span several 4 MiB LZ4 blocks. */
export const DISK_SIZES = { bootSize: MIB, rootSize: 12 * MIB, hashSize: MIB, privateSize: MIB };
export const IMAGE_SIZES: Record<ImagePart, number> = { boot: 256 * 1024, root: 9 * MIB, hash: 128 * 1024 };
const PARTS: readonly ImagePart[] = ['root', 'boot', 'hash'];

export interface ReleaseSpec {
  version: string;
  bad?: boolean;
  sizes?: Partial<Record<ImagePart, number>>;
  /** Publish each image's block index too (default: no index, so the images are streamed whole). */
  blockIndex?: boolean;
  /** Image bytes after the header line (default: a version-dependent pattern), see makeFakeImage. */
  fillers?: Partial<Record<ImagePart, Buffer>>;
  /** Replace a packed target file after packing (e.g. a corrupt LZ4 that is still signed). */
  rewrite?: Partial<Record<ImagePart, (lz4: Buffer) => Buffer>>;
}

export interface UpdateFixture {
  dir: TempDir;
  disk: string;
  server: StaticServer;
  repoDir: string;
  /** Environment for the updog bin: host paths, disk, active-set file, lock file. */
  env: Record<string, string | undefined>;
  /** Signs and publishes a manifest listing exactly these releases (replacing the previous one). */
  publish(releases: ReleaseSpec[]): Promise<void>;
  /** Target file path in the served repository (consistent-snapshot name) of a release's image. */
  targetFile(version: string, part: ImagePart): string;
  run(args: string[], env?: Record<string, string | undefined>): Promise<BinResult>;
  /** The boot model boots the disk: records the set as running and the version in os-release. */
  boot(): Promise<BootResult>;
  markSuccessfulBoot(): Promise<void>;
  status(): Promise<SignpostStatus>;
  sets(): PartitionSets;
  /** sha256 of the first `length` bytes of a partition. */
  partitionHash(set: SetName, part: ImagePart, length?: number): string;
  close(): Promise<void>;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** sha256 of the raw fake image a release carries, to compare with what a partition holds. */
export function fakeImageHash(version: string, part: ImagePart, bad = false, size = IMAGE_SIZES[part], filler?: Buffer): string {
  return sha256(makeFakeImage({ part, variant: VARIANT, arch: ARCH, version, bad }, size, filler));
}

export interface UpdateFixtureOptions {
  serverHook?: RequestHook;
  /** The server answers Range requests (206); by default it ignores them, as some servers do. */
  ranges?: boolean;
  /** Fillers of the 1.0.0 images installed in set A (see ReleaseSpec.fillers). */
  activeFillers?: Partial<Record<ImagePart, Buffer>>;
}

export async function createUpdateFixture(opts: UpdateFixtureOptions = {}): Promise<UpdateFixture> {
  const dir = tempDir('updog-update-');
  const disk = join(dir.path, 'disk.img');
  const repoDir = join(dir.path, 'repo');
  const keysDir = join(dir.path, 'keys');
  const files = {
    config: join(dir.path, 'updog.toml'),
    osRelease: join(dir.path, 'os-release'),
    metadataCache: join(dir.path, 'cache'),
    activeSet: join(dir.path, 'active-set'),
    lock: join(dir.path, 'updog.lock'),
  };
  await createBottlerocketDiskImage(disk, DISK_SIZES);
  installFakeVersion(disk, 'A', '1.0.0', opts.activeFillers);
  fs.writeFileSync(files.activeSet, 'A\n');
  writeOsRelease(files.osRelease, '1.0.0');
  fs.mkdirSync(repoDir);
  const server = await startStaticServer(repoDir, opts.serverHook, { ranges: opts.ranges === true });
  fs.writeFileSync(
    files.config,
    [
      `metadata_base_url = "${server.url}/metadata/"`,
      `targets_base_url = "${server.url}/targets/"`,
      'seed = 100',
      'version_lock = "latest"',
      'ignore_waves = false',
      '',
    ].join('\n'),
  );
  const targetNames = new Map<string, Record<ImagePart, string>>();
  let rootJsonPath: string | undefined;
  const env: Record<string, string | undefined> = {
    UPDOG_CONFIG: files.config,
    UPDOG_OS_RELEASE: files.osRelease,
    UPDOG_METADATA_CACHE: files.metadataCache,
    // what an update stages for the migrator; never the real /var paths
    UPDOG_MIGRATIONS_DIR: join(dir.path, 'bottlerocket-migrations'),
    UPDOG_MIGRATOR_METADATA_DIR: join(dir.path, 'bottlerocket-metadata'),
    UPDOG_DISK: disk,
    UPDOG_ACTIVE_SET_FILE: files.activeSet,
    UPDOG_LOCK_FILE: files.lock,
    UPDOG_CRASH_AT: undefined,
    http_proxy: undefined,
    https_proxy: undefined,
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
  };
  const signpost = (): Promise<Signpost> => Signpost.open({ disk, activeSet: { file: files.activeSet } });

  return {
    dir,
    disk,
    server,
    repoDir,
    env,
    async publish(releases) {
      const targets: Record<string, string> = {};
      const updates: Update[] = [];
      const maxVersion = releases.map((r) => r.version).sort(compareSemver).at(-1)!;
      for (const r of releases) {
        const release = await makeFakeRelease({
          dir: join(dir.path, 'releases', `${r.version}${r.bad ? '-bad' : ''}`),
          variant: VARIANT,
          arch: ARCH,
          version: r.version,
          bad: r.bad ?? false,
          sizes: { ...IMAGE_SIZES, ...r.sizes },
          ...(r.fillers === undefined ? {} : { fillers: r.fillers }),
        });
        for (const part of PARTS) {
          const rewrite = r.rewrite?.[part];
          if (rewrite) fs.writeFileSync(release[part], rewrite(fs.readFileSync(release[part])));
          targets[release.names[part]] = release[part];
          if (r.blockIndex === true) targets[blockIndexTargetName(release.names[part])] = release.blockIndexes[part];
        }
        targetNames.set(r.version, release.names);
        updates.push({ variant: VARIANT, arch: ARCH, version: r.version, maxVersion, waves: [], images: release.names });
      }
      const manifest: Manifest = { updates, migrations: [] };
      const result = await buildReleaseRepository({ outDir: repoDir, keysDir, manifest, targets });
      rootJsonPath ??= result.rootJsonPath;
      env.UPDOG_ROOT_JSON = rootJsonPath;
    },
    targetFile(version, part) {
      const name = targetNames.get(version)?.[part];
      if (name === undefined) throw new Error(`release ${version} not published`);
      const hashed = fs.readdirSync(join(repoDir, 'targets')).filter((f) => f.endsWith(`.${name}`));
      if (hashed.length !== 1) throw new Error(`expected one target file for ${name}, found ${hashed.length}`);
      return join(repoDir, 'targets', hashed[0]!);
    },
    run: (args, extra = {}) => runBin(UPDOG_BIN, args, { ...env, ...extra }),
    async boot() {
      const result = await simulateBoot(disk);
      fs.writeFileSync(files.activeSet, `${result.set}\n`);
      if (result.version !== undefined) writeOsRelease(files.osRelease, result.version);
      return result;
    },
    async markSuccessfulBoot() {
      await (await signpost()).markSuccessfulBoot();
    },
    async status() {
      return (await signpost()).status();
    },
    sets: () => findPartitionSets(readGpt(disk).gpt),
    partitionHash(set, part, length) {
      const p = findPartitionSets(readGpt(disk).gpt)[set][part];
      return sha256(readRange(disk, p.offset, length ?? p.size));
    },
    async close() {
      await server.close().catch(() => undefined); // a test may have stopped it already
      dir.cleanup();
    },
  };
}

/**
 * Publishes the releases (fixture), then signs a new repository version adding `files` as targets
 * and `migrations` to its manifest, as `tuf-repo release --release-toml ... --add name=path` does.
 */
export async function publishWithMigrations(f: UpdateFixture, releases: ReleaseSpec[], migrations: Migration[], files: Record<string, Buffer>): Promise<void> {
  await f.publish(releases);
  await signTargets(f, files, (manifest) => setMigrations(manifest, migrations));
}

/**
 * Signs a new version of the fixture's repository that adds (or replaces) `files` as targets,
 * with the published manifest (changed by `editManifest` if given).
 */
export async function signTargets(f: UpdateFixture, files: Record<string, Buffer>, editManifest: (m: Manifest) => Manifest = (m) => m): Promise<void> {
  const repo = await loadRepository(f.repoDir);
  const manifestInfo = repo.targets.signed.targets['manifest.json']!;
  const manifestFile = join(f.repoDir, 'targets', hashedTargetPath('manifest.json', manifestInfo.hashes.sha256!));
  const manifest = parseManifest(fs.readFileSync(manifestFile, 'utf8'));
  const sources = join(f.dir.path, 'extra-targets');
  fs.mkdirSync(sources, { recursive: true });
  const targets: Record<string, string> = {};
  for (const [name, data] of Object.entries(files)) {
    targets[name] = join(sources, name.replaceAll('/', '_'));
    fs.writeFileSync(targets[name], data);
  }
  // the fixture's signing key (createUpdateFixture keeps it in <dir>/keys)
  await buildReleaseRepository({ outDir: f.repoDir, keysDir: join(f.dir.path, 'keys'), manifest: editManifest(manifest), targets });
}

function compareSemver(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

function writeOsRelease(path: string, version: string): void {
  fs.writeFileSync(path, `VARIANT_ID=${VARIANT}\nVERSION_ID=${version}\nBUILD_ID=test\nARCH=${ARCH}\n`);
}

/** Writes raw fake images of `version` into a set, as an installer would have. */
function installFakeVersion(disk: string, set: SetName, version: string, fillers: Partial<Record<ImagePart, Buffer>> = {}): void {
  const sets = findPartitionSets(readGpt(disk).gpt);
  const fd = fs.openSync(disk, 'r+');
  try {
    for (const part of PARTS) {
      const image = makeFakeImage({ part, variant: VARIANT, arch: ARCH, version, bad: false }, IMAGE_SIZES[part], fillers[part]);
      fs.writeSync(fd, image, 0, image.length, sets[set][part].offset);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function readRange(path: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** `sgdisk -v` finds no problem with the disk's GPT. */
export function sgdiskVerifies(disk: string): boolean {
  return /No problems found/.test(execFileSync('sgdisk', ['-v', disk], { encoding: 'utf8' }));
}
