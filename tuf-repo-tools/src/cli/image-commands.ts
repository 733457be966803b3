import { join } from 'node:path';
import { Command } from 'commander';
import { blockIndexTargetName, type ImagePart } from '@updog-ts/updog/image';
import { digestBuffer, writeFileAtomic } from '../fs/files.js';
import type { BuiltBlockIndex } from '../image/block-index-builder.js';
import { makeFakeRelease } from '../image/fake-release.js';
import { indexLz4Image } from '../image/lz4-index.js';
import { imageTargetName, packImage } from '../image/pack.js';
import { blockSizeOption, parsePositiveInt, printJson } from './options.js';

/** Writes an index file (atomically) and describes it for the command's JSON output. */
function writeBlockIndex(path: string, index: BuiltBlockIndex): { path: string; length: number; sha256: string; blockSize: number; blocks: number } {
  writeFileAtomic(path, index.bytes);
  return { path, ...digestBuffer(index.bytes), blockSize: index.blockSize, blocks: index.blockCount };
}

const PARTS: readonly ImagePart[] = ['boot', 'root', 'hash'];

export function imageCommand(): Command {
  const image = new Command('image').description('image targets (LZ4 frames with Bottlerocket-style names)');
  image
    .command('pack')
    .description('compress raw boot/root/hash images into LZ4 frame targets named <name>-<variant>-<arch>-<version>-<build>-*.lz4')
    .requiredOption('--boot <file>', 'raw boot image')
    .requiredOption('--root <file>', 'raw root image')
    .requiredOption('--hash <file>', 'raw hash (verity) image')
    .requiredOption('--variant <variant>')
    .requiredOption('--arch <arch>')
    .requiredOption('--version <version>')
    .requiredOption('--build <id>', 'build id, e.g. a short commit hash')
    .option('--name <name>', 'image name prefix', 'bottlerocket')
    .addOption(blockSizeOption('decoded size of each LZ4 block'))
    .requiredOption('--out-dir <dir>')
    .addHelpText('after', '\nEach image gets its block index next to it: <image>.blockindex.')
    .action(async (o: Record<ImagePart, string> & { variant: string; arch: string; version: string; build: string; name: string; blockSize: number; outDir: string }) => {
      const out: Record<string, object> = {};
      for (const part of PARTS) {
        const name = imageTargetName(o, part);
        const packed = await packImage(o[part], join(o.outDir, name), o.blockSize);
        const blockIndex = { name: blockIndexTargetName(name), ...writeBlockIndex(blockIndexTargetName(packed.path), packed.blockIndex) };
        out[part] = { name, path: packed.path, length: packed.length, sha256: packed.sha256, blockIndex };
      }
      printJson(out);
    });
  image
    .command('index')
    .description('build the block index of an LZ4 image made elsewhere (e.g. lz4 -9): one frame of independent blocks of equal decoded size')
    .argument('<image>', 'LZ4 image file')
    .option('-o, --out <file>', 'index file (default: <image>.blockindex)')
    .action(async (imagePath: string, o: { out?: string }) => {
      const index = await indexLz4Image(imagePath);
      printJson(writeBlockIndex(o.out ?? blockIndexTargetName(imagePath), index));
    });
  image
    .command('fake')
    .description('make small fake images recording their version (for tests and demos), packed as targets')
    .requiredOption('--variant <variant>')
    .requiredOption('--arch <arch>')
    .requiredOption('--version <version>')
    .option('--bad', 'an image that boots but never passes its health check')
    .option('--boot-size <bytes>', 'raw boot image size', parsePositiveInt)
    .option('--root-size <bytes>', 'raw root image size', parsePositiveInt)
    .option('--hash-size <bytes>', 'raw hash image size', parsePositiveInt)
    .requiredOption('--out-dir <dir>')
    .action(async (o: { variant: string; arch: string; version: string; bad?: boolean; bootSize?: number; rootSize?: number; hashSize?: number; outDir: string }) => {
      const sizes: Partial<Record<ImagePart, number>> = {};
      if (o.bootSize) sizes.boot = o.bootSize;
      if (o.rootSize) sizes.root = o.rootSize;
      if (o.hashSize) sizes.hash = o.hashSize;
      const release = await makeFakeRelease({ dir: o.outDir, variant: o.variant, arch: o.arch, version: o.version, bad: o.bad ?? false, sizes });
      printJson(release);
    });
  return image;
}
