/**
 * Files that survive a crash or power loss whole: written under a temporary name in the same
 * directory, synced, renamed over the target, and the directory synced so the rename itself is
 * on disk. A reader sees the old file or the new one, never a torn one. A temp file left by a
 * writer that died is removed by the next write of the same file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DIR_MODE, FILE_MODE } from './file-modes.js';

const tempPrefix = (path: string): string => `.${basename(path)}.tmp-`;

/** A fresh temporary name next to `path` (same directory, so a rename is atomic). */
export function tempSibling(path: string): string {
  return join(dirname(path), `${tempPrefix(path)}${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Removes temporary files of `path` left by writers that died (their pid is in the name). */
export function removeStaleTemps(path: string): void {
  const prefix = tempPrefix(path);
  for (const entry of readdirSync(dirname(path))) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) rmSync(join(dirname(path), entry), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** fsync of a file or directory by path. */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `path` atomically and durably (creating its directory, DIR_MODE, if needed).
 * Synchronous: tuf-js persists its metadata from synchronous code, and the files are small.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = FILE_MODE): void {
  mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE });
  removeStaleTemps(path);
  const tmp = tempSibling(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
