/**
 * File helpers for writing repositories so that an interruption never leaves a half-written
 * file in place: every file is written under a temporary name, synced, then renamed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { pipeline } from 'node:stream/promises';

export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function syncAndClose(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` atomically (temp file in the same directory, fsync, rename). */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
}

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
        await syncAndClose(tmp);
      }
    } else {
      await copyFile(src, tmp);
      await syncAndClose(tmp);
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

export async function digestFile(path: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  let length = 0;
  await pipeline(createReadStream(path), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      hash.update(chunk);
      length += chunk.length;
    }
  });
  return { length, sha256: hash.digest('hex') };
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
