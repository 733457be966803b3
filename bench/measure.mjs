/**
 * What the benches share for timing processes and checking what they wrote: GNU time
 * (`/usr/bin/time`) around a process for its wall, user and system seconds and peak RSS, a sha256
 * of a byte range of a file, and a median.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MIB = 1024 * 1024;
export const TIME = '/usr/bin/time';
export const haveTime = fs.existsSync(TIME);

/** GNU time's figures for one process: wall, user and system seconds, peak RSS in KiB. */
export const TIME_FORMAT = '%e %U %S %M';

/** Reads (and removes) the file GNU time wrote with TIME_FORMAT. */
export function readTimes(file) {
  const [wall, user, sys, rssKiB] = fs.readFileSync(file, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  fs.rmSync(file);
  return { wall, user, sys, rssKiB };
}

/**
 * Runs argv (under GNU time when present); resolves with exit code, user/sys seconds and peak RSS,
 * and its stdout when `opts.stdio` pipes it.
 */
export function runMeasured(argv, opts = {}) {
  const timesFile = path.join(os.tmpdir(), `bench-times-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const full = haveTime ? [TIME, '-f', TIME_FORMAT, '-o', timesFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (s) => (stdout += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ...(child.stdout ? { stdout } : {}), ...(haveTime && fs.existsSync(timesFile) ? readTimes(timesFile) : {}) }));
  });
}

export function sha256OfRange(file, offset, length) {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 * MIB);
  for (let done = 0; done < length; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, length - done), offset + done);
    if (n === 0) throw new Error(`${file} ends before ${offset + length}`);
    hash.update(buf.subarray(0, n));
    done += n;
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
