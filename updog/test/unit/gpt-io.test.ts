import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PARTITION_TYPE } from '../../src/gpt/bottlerocket-layout.js';
import { encodeGpt, type Gpt } from '../../src/gpt/format.js';
import { GptError, readGpt, writeGpt } from '../../src/gpt/io.js';
import { findPartitionSets } from '../../src/partitions/partition-sets.js';
import { makeDiskImage, makeTempDir, MIB, removeDir, sgdisk, sgdiskAttributes, sgdiskVerifyOutput, smash, writeAt } from './gpt-helpers.js';

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => removeDir(dir));

describe('createBottlerocketDiskImage', () => {
  it('makes a sparse image sgdisk accepts, with the Bottlerocket layout and set A bootable', async () => {
    const img = await makeDiskImage(dir);
    expect(fs.statSync(img).size).toBe(11 * MIB); // 1 MiB + 2 x (1 + 2 + 1) MiB + 1 MiB private + 1 MiB
    expect(sgdiskVerifyOutput(img)).toContain('No problems found.');
    const table = sgdisk('-p', img);
    const rows = table.split('\n').filter((l) => /^\s+\d+\s/.test(l)).map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => [r[0], r[1], r[2], r.at(-1)])).toEqual([
      ['1', '2048', '4095', 'BOTTLEROCKET-BOOT-A'],
      ['2', '4096', '8191', 'BOTTLEROCKET-ROOT-A'],
      ['3', '8192', '10239', 'BOTTLEROCKET-HASH-A'],
      ['4', '10240', '12287', 'BOTTLEROCKET-BOOT-B'],
      ['5', '12288', '16383', 'BOTTLEROCKET-ROOT-B'],
      ['6', '16384', '18431', 'BOTTLEROCKET-HASH-B'],
      ['7', '18432', '20479', 'BOTTLEROCKET-PRIVATE'],
    ]);
    expect(sgdisk('-i', '2', img)).toContain('Partition GUID code: 5526016A-1A97-4EA4-B39A-B7C8C6CA4502');
    expect(sgdiskAttributes(img, 1)).toBe('0101000000000000');
    for (const n of [4, 7]) expect(sgdiskAttributes(img, n)).toBe('0000000000000000');
    // The protective MBR is what sfdisk expects of a GPT disk.
    expect(execFileSync('sfdisk', ['--dump', img], { encoding: 'utf8' })).toContain('label: gpt');
  });

  it('finds partition sets with byte offsets and sizes', async () => {
    const img = await makeDiskImage(dir);
    const sets = findPartitionSets(readGpt(img).gpt);
    expect(sets.A.root).toMatchObject({ index: 1, number: 2, label: 'BOTTLEROCKET-ROOT-A', offset: 2 * MIB, size: 2 * MIB, typeGuid: PARTITION_TYPE.root });
    expect(sets.B.hash).toMatchObject({ index: 5, number: 6, offset: 8 * MIB, size: MIB });
    expect(sets.private).toMatchObject({ number: 7, offset: 9 * MIB });
  });
});

describe('reading tables written by sgdisk', () => {
  it('finds sets by type in table order, not by number or position, and keeps foreign bits', () => {
    const img = path.join(dir, 'sgdisk.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 32 * MIB);
    const part = (n: number, start: number, mib: number, type: string, name: string) => [`-n`, `${n}:${start * 2048}:+${mib}M`, '-t', `${n}:${type}`, '-c', `${n}:${name}`];
    sgdisk(
      '-o',
      ...part(1, 1, 1, PARTITION_TYPE.private, 'BOTTLEROCKET-PRIVATE'),
      ...part(2, 2, 1, 'EF00', 'EFI-SYSTEM'),
      // set B's partitions sit physically before set A's, but A comes first in the table
      ...part(3, 20, 1, PARTITION_TYPE.boot, 'BOTTLEROCKET-BOOT-A'),
      ...part(4, 21, 4, PARTITION_TYPE.root, 'BOTTLEROCKET-ROOT-A'),
      ...part(5, 25, 1, PARTITION_TYPE.hash, 'BOTTLEROCKET-HASH-A'),
      ...part(6, 4, 1, PARTITION_TYPE.boot, 'BOTTLEROCKET-BOOT-B'),
      ...part(7, 5, 4, PARTITION_TYPE.root, 'BOTTLEROCKET-ROOT-B'),
      ...part(8, 9, 1, PARTITION_TYPE.hash, 'BOTTLEROCKET-HASH-B'),
      '-A', '3:set:48', '-A', '3:set:56', '-A', '3:set:2', '-A', '3:set:62',
      img,
    );
    const { gpt, primaryProblem, backupProblem } = readGpt(img);
    expect([primaryProblem, backupProblem]).toEqual([undefined, undefined]);
    const sets = findPartitionSets(gpt);
    expect([sets.A.boot.number, sets.A.root.number, sets.A.hash.number]).toEqual([3, 4, 5]);
    expect([sets.B.boot.number, sets.B.root.number, sets.B.hash.number]).toEqual([6, 7, 8]);
    expect(sets.private.number).toBe(1);
    expect(sets.A.root).toMatchObject({ offset: 21 * MIB, size: 4 * MIB, label: 'BOTTLEROCKET-ROOT-A' });
    expect(sets.A.boot.attributes).toBe((1n << 62n) | (1n << 56n) | (1n << 48n) | (1n << 2n));

    // Rewriting the table unchanged reproduces sgdisk's bytes exactly (both copies).
    const before = fs.readFileSync(img);
    writeGpt(img, gpt);
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  });

  it('explains what is missing on a disk without the A/B layout', () => {
    const img = path.join(dir, 'plain.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 8 * MIB);
    sgdisk('-o', '-n', '1:2048:+1M', '-t', `1:${PARTITION_TYPE.boot}`, img);
    expect(() => findPartitionSets(readGpt(img).gpt)).toThrow(
      'not a Bottlerocket A/B disk: missing partitions of type BOOT (found 1, need 2), ROOT (found 0, need 2), HASH (found 0, need 2), PRIVATE (found 0, need 1)',
    );
  });
});

describe('damaged tables', () => {
  const lastSector = (img: string) => fs.statSync(img).size - 512;

  it('reads from the backup when the primary header is corrupt, and a write repairs it', async () => {
    const img = await makeDiskImage(dir);
    const pristine = fs.readFileSync(img);
    smash(img, 512 + 20, 4); // inside the primary header: CRC no longer matches
    const read = readGpt(img);
    expect(read.primaryProblem).toMatch(/^header CRC mismatch at LBA 1/);
    expect(read.backupProblem).toBeUndefined();
    expect(findPartitionSets(read.gpt).B.root.number).toBe(5);
    writeGpt(img, read.gpt);
    expect(fs.readFileSync(img).equals(pristine)).toBe(true);
    expect(sgdiskVerifyOutput(img)).toContain('No problems found.');
  });

  it('reads from the backup when the primary entry array is corrupt', async () => {
    const img = await makeDiskImage(dir);
    const pristine = fs.readFileSync(img);
    smash(img, 2 * 512 + 128 * 3 + 32, 8); // HASH-B first LBA in the primary array
    const read = readGpt(img);
    expect(read.primaryProblem).toMatch(/^entry array CRC mismatch at LBA 2/);
    writeGpt(img, read.gpt);
    expect(fs.readFileSync(img).equals(pristine)).toBe(true);
  });

  it('refuses a grown image, whose intact primary names a backup short of the disk end, and never reads the backup there', async () => {
    const img = await makeDiskImage(dir);
    const oldBackupLba = lastSector(img) / 512;
    fs.truncateSync(img, fs.statSync(img).size + MIB);
    const before = fs.readFileSync(img);
    expect(() => readGpt(img)).toThrow(
      `512-byte sectors: primary: header at LBA 1 names LBA ${oldBackupLba} as the backup header's, not LBA ${oldBackupLba + 2048} (the last LBA of the disk); backup: no GPT signature at LBA ${oldBackupLba + 2048}`,
    );
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  });

  it('uses the primary when only the backup is corrupt, and a write repairs the backup', async () => {
    const img = await makeDiskImage(dir);
    const pristine = fs.readFileSync(img);
    smash(img, lastSector(img), 8);
    const read = readGpt(img);
    expect(read.primaryProblem).toBeUndefined();
    expect(read.backupProblem).toBe(`no GPT signature at LBA ${lastSector(img) / 512}`);
    writeGpt(img, read.gpt);
    expect(fs.readFileSync(img).equals(pristine)).toBe(true);
  });

  it('refuses when both copies are corrupt, naming both problems', async () => {
    const img = await makeDiskImage(dir);
    smash(img, 512 + 20, 4);
    smash(img, lastSector(img) - 32 * 512, 16); // backup entry array
    const err = (() => {
      try {
        readGpt(img);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(GptError);
    expect((err as Error).message).toMatch(
      /^no usable GPT on .*disk\.img \(512-byte sectors: primary: header CRC mismatch at LBA 1 .*; backup: entry array CRC mismatch at LBA 22495 .*\| 4096-byte sectors: primary: no GPT signature at LBA 1; backup: no GPT signature at LBA 2815\); refusing to touch it/,
    );
  });

  it('refuses a file that is not a disk image at all', () => {
    const img = path.join(dir, 'empty.img');
    fs.writeFileSync(img, Buffer.alloc(MIB));
    expect(() => readGpt(img)).toThrow(/^no usable GPT on .*empty\.img \(512-byte sectors: primary: no GPT signature at LBA 1; backup: no GPT signature at LBA 2047/);
    expect(() => readGpt(path.join(dir, 'missing.img'))).toThrow(/^cannot open disk .*missing\.img: ENOENT/);
  });
});

describe('writeGpt refuses, writing nothing, a table whose copies would not sit where they belong', () => {
  it('whatever the caller computed: backup header or array inside the usable area, primary array into it, a grown disk, overlapping partitions', async () => {
    const img = await makeDiskImage(dir); // 22528 sectors, usable 34-22494, ROOT-A 4096-8191
    const before = fs.readFileSync(img);
    const cases: Array<[string, (gpt: Gpt) => void, string]> = [
      ['backup header inside ROOT-A', (g) => (g.header.alternateLba = 6000), 'header at LBA 1 names LBA 6000 as the backup header\'s, not LBA 22527 (the last LBA of the disk)'],
      ['backup array inside the usable area', (g) => (g.backupEntriesLba = 22494), 'header at LBA 22527 has an entry array at LBA 22494 outside LBA 22495-22526, between the header and the usable range'],
      ['primary array into the usable area', (g) => (g.header.entriesLba = 3), 'header at LBA 1 has an entry array at LBA 3 outside LBA 2-33, between the header and the usable range'],
      ['usable range over the backup array', (g) => (g.header.lastUsableLba = 22500), 'header at LBA 1 has a usable range 34-22500 that leaves no room for 32-sector entry arrays on a disk of 22528 sectors'],
      ['overlapping partitions', (g) => (g.entries[1]!.firstLba = 4000), 'partitions 1 and 2 overlap'],
      ['a table for another disk size', (g) => (g.diskSectors = 30000), 'the table is for 30000 sectors, the disk has 22528'],
    ];
    for (const [what, change, problem] of cases) {
      const { gpt } = readGpt(img);
      change(gpt);
      expect(() => writeGpt(img, gpt), what).toThrow(new GptError(`refusing to write the GPT on ${img}: ${problem}`));
      expect(fs.readFileSync(img).equals(before), what).toBe(true);
    }
  });
});

describe('interrupted writes', () => {
  it('a crash at any point of writeGpt leaves a table that reads as the old or the new one', async () => {
    const img = await makeDiskImage(dir);
    const old = fs.readFileSync(img);
    const { gpt } = readGpt(img);
    gpt.entries[3]!.attributes = 0x0012_0000_0000_0000n; // BOOT-B: the change being written
    const enc = encodeGpt(gpt);
    // writeGpt's writes, in order (offsets in bytes)
    const writes: Array<[number, Buffer]> = [
      [gpt.backupEntriesLba * 512, enc.entries],
      [gpt.header.alternateLba * 512, enc.backupHeader],
      [gpt.header.entriesLba * 512, enc.entries],
      [512, enc.primaryHeader],
    ];
    const total = writes.reduce((n, [, b]) => n + b.length, 0);
    const crashPoints = new Set<number>();
    for (let k = 0; k <= total; k += 509) crashPoints.add(k); // odd stride: torn sectors too
    let boundary = 0;
    for (const [, b] of writes) {
      for (const d of [-1, 0, 1, 88, 92]) crashPoints.add(Math.min(total, Math.max(0, boundary + d)));
      boundary += b.length;
    }
    crashPoints.add(total);

    // Read back after each crash point: always a valid table, old until some point, new after it.
    const results: string[] = [];
    for (const k of [...crashPoints].sort((a, b) => a - b)) {
      let left = k;
      for (const [offset, bytes] of writes) {
        const n = Math.min(left, bytes.length);
        const region = Buffer.from(old.subarray(offset, offset + bytes.length));
        bytes.copy(region, 0, 0, n);
        writeAt(img, offset, region);
        left -= n;
      }
      results.push(readGpt(img).gpt.entries[3]!.attributes === 0n ? 'old' : 'new');
    }
    const firstNew = results.indexOf('new');
    expect(results[0]).toBe('old');
    expect(firstNew).toBeGreaterThan(0);
    expect(results.slice(firstNew).every((r) => r === 'new')).toBe(true);
    expect(results.length).toBeGreaterThan(60);
  });
});
