/**
 * Image targets: LZ4 frame files named the Bottlerocket way,
 * `<name>-<variant>-<arch>-<version>-<build>-{boot.ext4,root.ext4,root.verity}.lz4`.
 */
import { open } from 'node:fs/promises';
import { UserError } from '@updog-ts/updog/common';
import { LZ4_FRAME_MAGIC, type ImagePart } from '@updog-ts/updog/image';
import { packLz4File, type PackedLz4 } from './lz4-pack.js';

export const IMAGE_SUFFIX: Record<ImagePart, string> = {
  boot: 'boot.ext4.lz4',
  root: 'root.ext4.lz4',
  hash: 'root.verity.lz4',
};

export interface ImageNameParts {
  /** Image name prefix; `bottlerocket` by default. */
  name?: string;
  variant: string;
  arch: string;
  version: string;
  build: string;
}

export function imageTargetName(parts: ImageNameParts, part: ImagePart): string {
  const fields = [parts.name ?? 'bottlerocket', parts.variant, parts.arch, parts.version, parts.build];
  for (const f of fields) {
    if (f.length === 0 || f.includes('/')) throw new UserError(`image name field "${f}" must be non-empty and contain no "/"`);
  }
  return `${fields.join('-')}-${IMAGE_SUFFIX[part]}`;
}


/** Whether the file already is an LZ4 frame (so `release` can take packed or raw images). */
export async function isLz4Frame(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && head.readUInt32LE(0) === LZ4_FRAME_MAGIC;
  } finally {
    await fh.close();
  }
}

/**
 * Packs a raw image into an LZ4 frame target (content checksum on) of `blockSize`-byte blocks;
 * returns its digest and block index.
 */
export async function packImage(rawPath: string, outLz4Path: string, blockSize?: number): Promise<PackedLz4 & { path: string }> {
  return { path: outLz4Path, ...(await packLz4File(rawPath, outLz4Path, blockSize)) };
}
