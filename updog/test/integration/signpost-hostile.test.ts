/**
 * The signpost bin against hostile disks: CRC-valid GPT headers naming LBAs where no GPT belongs,
 * and `--disk` paths that are not disks. Each refusal is one line, exit 1, the disk unchanged.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDiskImage, makeTempDir, removeDir, setHeaderField, sgdiskVerifyOutput, smash } from '../unit/gpt-helpers.js';

const BIN = fileURLToPath(new URL('../../dist/cli/signpost.js', import.meta.url));
const ALTERNATE_LBA = 32; // byte offset of alternate_lba in a GPT header
const READ_ONLY = ['status', 'has-boot-ever-succeeded'];
const CHANGING = ['clear-inactive', 'mark-inactive-valid', 'cancel-upgrade', 'mark-successful-boot'];

let dir: string;
let img: string;
beforeEach(async () => {
  dir = makeTempDir();
  img = await makeDiskImage(dir); // ROOT-A: LBA 4096-8191, last LBA 22527
});
afterEach(() => removeDir(dir));

function signpost(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--active-set', 'A', '--log-level', 'warn', ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '' } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const lastLba = () => fs.statSync(img).size / 512 - 1;

describe('a CRC-valid primary header whose alternate_lba is not the last LBA', () => {
  for (const [name, alternate] of [
    ['inside ROOT-A (LBA 6000)', 6000],
    ['inside the primary entry array (LBA 40)', 40],
    ['on the primary entry array start (LBA 2)', 2],
  ] as const) {
    it(`${name}, backup unreadable: every command refuses in one line and writes nothing`, () => {
      setHeaderField(img, 1, ALTERNATE_LBA, BigInt(alternate));
      smash(img, lastLba() * 512, 512);
      const before = fs.readFileSync(img);
      for (const command of [...READ_ONLY, ...CHANGING]) {
        const run = signpost(['--disk', img, command]);
        expect({ command, ...run }).toEqual({
          command,
          code: 1,
          signal: null,
          stdout: '',
          stderr: `signpost: error: no usable GPT on ${img} (512-byte sectors: primary: header at LBA 1 names LBA ${alternate} as the backup header's, not LBA 22527 (the last LBA of the disk); backup: no GPT signature at LBA 22527 | 4096-byte sectors: primary: no GPT signature at LBA 1; backup: no GPT signature at LBA 2815); refusing to touch it. Restore the partition table (\`sgdisk -v\` shows what is wrong; \`sgdisk -e\` moves the backup of a grown disk to its end) and retry.\n`,
        });
        expect(fs.readFileSync(img).equals(before)).toBe(true);
      }
    });

    it(`${name}, backup intact: the backup is used, read-only commands write nothing, a change rebuilds the primary and ROOT-A is untouched`, () => {
      const rootA = Buffer.alloc(4096 * 512, 0x5a);
      fs.writeSync(fs.openSync(img, 'r+'), rootA, 0, rootA.length, 4096 * 512);
      setHeaderField(img, 1, ALTERNATE_LBA, BigInt(alternate));
      const damaged = fs.readFileSync(img);
      for (const command of READ_ONLY) {
        const run = signpost(['--disk', img, command]);
        expect(run.code).toBe(command === 'status' ? 0 : 2);
        expect(JSON.parse(run.stderr)).toMatchObject({
          level: 40,
          msg: 'damaged GPT copy; not repaired by a read-only command (the next flag change rewrites both copies)',
          primaryProblem: `header at LBA 1 names LBA ${alternate} as the backup header's, not LBA 22527 (the last LBA of the disk)`,
        });
        expect(fs.readFileSync(img).equals(damaged)).toBe(true);
      }
      const run = signpost(['--disk', img, 'mark-successful-boot']);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stderr)).toMatchObject({ level: 40, msg: 'repairing damaged GPT copy' });
      expect(sgdiskVerifyOutput(img)).toContain('No problems found.');
      const after = fs.readFileSync(img);
      expect(after.readBigUInt64LE(512 + ALTERNATE_LBA)).toBe(22527n);
      expect(after.subarray(34 * 512, 22527 * 512 - 32 * 512).equals(damaged.subarray(34 * 512, 22527 * 512 - 32 * 512))).toBe(true);
    });
  }

  it('a backup header at the last LBA naming a primary elsewhere is not trusted either', () => {
    setHeaderField(img, lastLba(), ALTERNATE_LBA, 6000n);
    smash(img, 512, 512);
    const before = fs.readFileSync(img);
    const run = signpost(['--disk', img, 'mark-successful-boot']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`backup: header at LBA 22527 names LBA 6000 as the primary header's, not LBA 1 |`);
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  });
});

describe('--disk that is not a disk', () => {
  it('refuses /dev/null, a directory and a FIFO in one line, exit 1, without blocking', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [disk, kind] of [
      ['/dev/null', 'a character device'],
      [dir, 'a directory'],
      [fifo, 'a FIFO'],
    ] as const) {
      for (const command of ['status', 'mark-successful-boot', 'simulate-boot']) {
        expect({ disk, command, ...signpost(['--disk', disk, command]) }).toEqual({
          disk,
          command,
          code: 1,
          signal: null,
          stdout: '',
          stderr: `signpost: error: disk ${disk} is ${kind}, not a disk image file or block device\n`,
        });
      }
    }
  });
});
