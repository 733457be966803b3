import { Command } from 'commander';
import { UserError } from '@updog-ts/updog/common';
import { loadReleaseToml } from '../manifest/edit.js';
import { resolveWavePolicy } from '../manifest/wave-policy.js';
import { releaseImages } from '../release/release.js';
import { loadRootFile } from '../tuf/load.js';
import { parseTime } from '../time/time.js';
import { addPublishOptions, collect, loggerOf, parseAdd, blockSizeOption, printJson, publishSettings, signersFrom, type PublishFlags } from './options.js';

interface ReleaseFlags extends PublishFlags {
  out: string;
  keysDir?: string;
  key: string[];
  rootJson?: string;
  releaseToml?: string;
  variant: string;
  arch: string;
  version?: string;
  maxVersion?: string;
  boot: string;
  root: string;
  hash: string;
  build?: string;
  wavePolicy: string;
  startAt?: string;
  add: string[];
  link?: boolean;
  blockIndex: boolean;
  blockSize: number;
}

export function releaseCommand(): Command {
  return addPublishOptions(
    new Command('release')
      .description('images + release facts -> signed, ready-to-serve repository in one step (creates or updates OUT)')
      .requiredOption('--out <dir>', 'repository directory')
      .option('--keys-dir <dir>', 'PEM keys (*.pem); one ed25519 key is generated there if it holds none')
      .option('-k, --key <file>', 'PEM private key (repeatable; instead of --keys-dir)', collect, [])
      .option('--root-json <file>', 'signed root for a new repository (default: every key in every role, threshold 1)')
      .option('--release-toml <file>', 'Release.toml: version and [migrations]')
      .requiredOption('--variant <variant>')
      .requiredOption('--arch <arch>')
      .option('--version <version>', 'release version (default: from --release-toml)')
      .option('--max-version <version>')
      .requiredOption('--boot <file>', 'boot image (raw or .lz4)')
      .requiredOption('--root <file>', 'root image (raw or .lz4)')
      .requiredOption('--hash <file>', 'hash image (raw or .lz4)')
      .option('--build <id>', 'build id in image names (default: from the root image hash)')
      .option('--wave-policy <file>', 'wave policy TOML or default|accelerated|slow', 'default')
      .option('--start-at <time>', 'rollout start for the waves (default: now)')
      .option('--add <name=path>', 'extra target, e.g. a migration (repeatable)', collect, [])
      .option('--link', 'hard-link targets instead of copying')
      .addOption(blockSizeOption('decoded LZ4 block size for packing raw images (.lz4 inputs keep theirs)'))
      .option('--no-block-index', 'publish no <image>.blockindex targets (hosts then always download whole images)'),
  ).action(async (o: ReleaseFlags, cmd: Command) => {
    const now = new Date();
    const releaseToml = o.releaseToml ? await loadReleaseToml(o.releaseToml) : undefined;
    const version = o.version ?? releaseToml?.version;
    if (!version) throw new UserError('no release version: give --version or a --release-toml with version = "X.Y.Z"');
    if (o.key.length === 0 && !o.keysDir) throw new UserError('no signing keys: give --keys-dir DIR (a key is generated there if it holds none) or --key FILE');
    const { expires } = await publishSettings(o, now);
    const result = await releaseImages({
      outDir: o.out,
      ...(o.key.length > 0 ? { signers: await signersFrom({ key: o.key }) } : { keysDir: o.keysDir! }),
      ...(o.rootJson ? { root: await loadRootFile(o.rootJson) } : {}),
      variant: o.variant,
      arch: o.arch,
      version,
      ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
      images: { boot: o.boot, root: o.root, hash: o.hash },
      blockSize: o.blockSize,
      blockIndex: o.blockIndex,
      ...(o.build ? { build: o.build } : {}),
      wavePolicy: await resolveWavePolicy(o.wavePolicy),
      startAt: o.startAt ? parseTime(o.startAt, now) : now,
      ...(releaseToml ? { migrations: releaseToml.migrations } : {}),
      extraTargets: Object.fromEntries(o.add.map(parseAdd)),
      expires,
      link: o.link ?? false,
      now,
    });
    const log = loggerOf(cmd);
    for (const [part, why] of Object.entries(result.blockIndexSkipped)) log.warn({ part }, `no block index published: ${why}`);
    log.info({ version, images: result.images, blockIndexes: result.blockIndexes }, 'release published');
    printJson({
      repository: o.out,
      rootJson: result.rootJsonPath,
      versions: result.versions,
      images: result.images,
      blockIndexes: result.blockIndexes,
      blockIndexSkipped: result.blockIndexSkipped,
    });
  });
}
