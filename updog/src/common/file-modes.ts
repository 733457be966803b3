/**
 * The modes of the files and directories updog creates, and the check that a directory it trusts
 * is its own. Modes are given explicitly, so that a permissive umask (000) cannot widen them:
 * directories 0755 and files 0644, because what updog keeps (signed TUF metadata, signed
 * migrations, the update status, the lock) is for any local user to read but only for updog's
 * user to change. Temporary directories (mkdtemp) stay 0700.
 */
import fs from 'node:fs';
import { UserError } from './errors.js';

export const DIR_MODE = 0o755;
export const FILE_MODE = 0o644;

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/**
 * Refuses `path` (a directory, or a file in one) if another local user could replace what is in
 * it: writable by group or others, or owned by someone other than this process's user or root.
 */
export function checkOnlyOwnerWrites(path: string, what: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch (err) {
    throw new UserError(`cannot check ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
  const me = process.getuid?.() ?? 0;
  if ((stat.mode & 0o022) !== 0) {
    throw new UserError(`refusing ${what} ${path}: it is writable by other users (mode ${octal(stat.mode)}), who could replace what updog trusts; run chmod go-w ${path}`);
  }
  if (stat.uid !== me && stat.uid !== 0) {
    throw new UserError(`refusing ${what} ${path}: it belongs to uid ${stat.uid}, not to updog's user (uid ${me}) or root`);
  }
}
