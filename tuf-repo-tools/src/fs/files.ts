/**
 * File helpers for writing repositories so that an interruption never leaves a half-written
 * file in place: every file is written under a temporary name, synced, then renamed.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncPath, tempSibling } from '@updog-ts/updog/common';

export { tempSibling, writeFileAtomic } from '@updog-ts/updog/common';

/**
 * Places a copy (or a hard link, when `useLink` and on the same file system) of `src` at `dest`
 * atomically. An existing `dest` is replaced.
 */
export async function placeFileAtomic(src: string, dest: string, useLink: boolean): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = tempSibling(dest);
  try {
    if (useLink) {
      try {
        await link(src, tmp);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        await copyFile(src, tmp);
        await syncPath(tmp);
      }
    } else {
      await copyFile(src, tmp);
      await syncPath(tmp);
    }
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export interface FileDigest {
  length: number;
  sha256: string;
}

/** Passes a stream's chunks through unchanged, hashing them on the way. */
export class DigestTap {
  private readonly hash = createHash('sha256');
  private length = 0;

  async *pass(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of source) {
      this.hash.update(chunk);
      this.length += chunk.length;
      yield chunk;
    }
  }

  /** Length and sha256 of what passed (once, after the stream ended). */
  digest(): FileDigest {
    return { length: this.length, sha256: this.hash.digest('hex') };
  }
}

export async function digestFile(path: string): Promise<FileDigest> {
  const tap = new DigestTap();
  for await (const _ of tap.pass(createReadStream(path)));
  return tap.digest();
}

export function digestBuffer(data: Buffer): FileDigest {
  return { length: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
