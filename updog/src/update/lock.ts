/**
 * The cross-process update lock: a file holding the owner's pid and process start time, created
 * atomically with that content. A lock whose owner is gone (crash, SIGKILL, reboot) is taken over; the start
 * time keeps a recycled pid from looking like the old owner.
 */
import fs from 'node:fs';
import { removeStaleTemps, tempSibling } from '../common/durable-file.js';
import { ExitCode, UserError } from '../common/errors.js';
import { FILE_MODE } from '../common/file-modes.js';

export const DEFAULT_LOCK_FILE = '/run/updog.lock';

interface LockOwner {
  pid: number;
  /** Clock ticks since boot at which the process started (/proc/<pid>/stat field 22), when known. */
  startTime?: string;
}

/** Runs `fn` holding the lock at `lockPath`; throws a `Busy` UserError while another live process holds it. */
export async function withUpdateLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const me: LockOwner = { pid: process.pid, ...startTimeField(process.pid) };
  acquire(lockPath, me);
  try {
    return await fn();
  } finally {
    release(lockPath, me);
  }
}

function acquire(lockPath: string, me: LockOwner): void {
  // Each round either creates the lock or removes one stale lock; a few rounds cover races
  // with other processes doing the same.
  for (let round = 0; round < 5; round++) {
    if (tryCreate(lockPath, me)) return;
    const owner = readOwner(lockPath);
    if (owner === undefined) continue; // vanished meanwhile: try again
    if (owner !== 'unreadable' && isAlive(owner)) throw busy(lockPath, owner);
    removeStale(lockPath, owner);
  }
  throw new UserError(`could not take the update lock ${lockPath}: it keeps changing hands; retry`, { exitCode: ExitCode.Busy });
}

/**
 * Creates the lock with its owner already in it: the owner is written to a private temp file that
 * is then hard-linked to the lock path (link fails if the lock exists). A lock file is never seen
 * empty, so no process can take a lock being created for a stale one.
 */
function tryCreate(lockPath: string, me: LockOwner): boolean {
  const fail = (err: unknown): never => {
    throw new UserError(`cannot create the update lock ${lockPath}: ${(err as Error).message} (set --lock-file or UPDOG_LOCK_FILE)`, { cause: err });
  };
  const temp = tempSibling(lockPath);
  try {
    removeStaleTemps(lockPath);
    fs.writeFileSync(temp, `${JSON.stringify(me)}\n`, { flag: 'wx', mode: FILE_MODE });
  } catch (err) {
    fail(err);
  }
  try {
    fs.linkSync(temp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    return fail(err);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/**
 * Moves the stale lock aside (atomic: only one process wins the rename) and checks that what
 * it moved is the stale lock it judged; if a live owner replaced it in between, puts it back.
 */
function removeStale(lockPath: string, stale: LockOwner | 'unreadable'): void {
  const aside = `${lockPath}.stale.${process.pid}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = readOwner(aside);
  const same = moved === stale || (typeof moved === 'object' && typeof stale === 'object' && moved.pid === stale.pid && moved.startTime === stale.startTime);
  if (!same && typeof moved === 'object' && isAlive(moved)) {
    try {
      fs.linkSync(aside, lockPath); // restore, unless yet another lock appeared
    } finally {
      fs.rmSync(aside, { force: true });
    }
    throw busy(lockPath, moved);
  }
  fs.rmSync(aside, { force: true });
}

function release(lockPath: string, me: LockOwner): void {
  const owner = readOwner(lockPath);
  if (typeof owner === 'object' && owner.pid === me.pid) fs.rmSync(lockPath, { force: true });
}

/** The lock's owner; undefined when the file is gone; 'unreadable' when it holds garbage. */
function readOwner(path: string): LockOwner | 'unreadable' | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) return 'unreadable';
    return { pid: parsed.pid, ...(typeof parsed.startTime === 'string' ? { startTime: parsed.startTime } : {}) };
  } catch {
    return 'unreadable';
  }
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startTime === undefined) return true;
  const now = startTimeField(owner.pid).startTime;
  return now === undefined || now === owner.startTime;
}

function startTimeField(pid: number): { startTime?: string } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the parenthesised command name (which may itself hold spaces or parens)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTime = fields[19]; // field 22 overall
    return startTime === undefined ? {} : { startTime };
  } catch {
    return {};
  }
}

function busy(lockPath: string, owner: LockOwner): UserError {
  return new UserError(`another updog process (pid ${owner.pid}) is updating this host (lock file ${lockPath}); try again later`, {
    exitCode: ExitCode.Busy,
  });
}
