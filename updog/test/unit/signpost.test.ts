import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeDevT } from '../../src/gpt/block-device.js';
import { GptError, readGpt } from '../../src/gpt/io.js';
import { findRunningRoot, resolveActiveSet } from '../../src/partitions/active-set.js';
import { findPartitionSets } from '../../src/partitions/partition-sets.js';
import { resolveDiskOptions } from '../../src/signpost/disk-options.js';
import { SignpostError } from '../../src/signpost/flags.js';
import { Signpost } from '../../src/signpost/signpost.js';
import { capturedLogger, expectedBootAttributes, makeDiskImage, makeTempDir, removeDir, sgdisk, sgdiskAttributes, sgdiskVerifyOutput, smash } from './gpt-helpers.js';

let dir: string;
let img: string;
beforeEach(async () => {
  dir = makeTempDir();
  img = await makeDiskImage(dir);
});
afterEach(() => removeDir(dir));

const PRIVATE_BIT57 = '0200000000000000';

/** After each command: sgdisk finds no problem and shows exactly these attribute bits. */
function expectOnDisk(bootA: string, bootB: string, priv: string): void {
  expect(sgdiskVerifyOutput(img)).toContain('No problems found.');
  expect([sgdiskAttributes(img, 1), sgdiskAttributes(img, 4), sgdiskAttributes(img, 7)]).toEqual([bootA, bootB, priv]);
}

describe('Signpost on a disk image', () => {
  it('walks a whole update cycle, each step persisted to both GPT copies', async () => {
    const sp = await Signpost.open({ disk: img, activeSet: { set: 'A' } });
    expect([sp.activeSet, sp.inactiveSet]).toEqual(['A', 'B']);
    expect(sp.inactive.root).toMatchObject({ number: 5, offset: 6 * 1024 * 1024, size: 2 * 1024 * 1024 });
    expect(sp.active.boot.number).toBe(1);
    expect(await sp.hasBootEverSucceeded()).toBe(false);

    await sp.markSuccessfulBoot();
    expectOnDisk('0101000000000000', '0000000000000000', PRIVATE_BIT57);
    expect(await sp.hasBootEverSucceeded()).toBe(true);

    await sp.clearInactive();
    expectOnDisk('0101000000000000', '0000000000000000', PRIVATE_BIT57);
    await sp.markInactiveValid();
    expectOnDisk('0101000000000000', '0010000000000000', PRIVATE_BIT57);
    const upgraded = await sp.upgradeToInactive();
    expectOnDisk('0101000000000000', '0012000000000000', PRIVATE_BIT57);
    expect(upgraded).toMatchObject({ nextBoot: 'B', B: { priority: 2, triesLeft: 1, successful: false, willBoot: true } });
    await sp.cancelUpgrade();
    expectOnDisk('0102000000000000', '0010000000000000', PRIVATE_BIT57);
    await sp.upgradeToInactive();
    expectOnDisk('0101000000000000', '0012000000000000', PRIVATE_BIT57);
    await sp.rollbackToInactive(); // B will boot (priority 2, tries 1): "roll back" to it is allowed
    expectOnDisk('0101000000000000', '0012000000000000', PRIVATE_BIT57);

    // Every copy agrees: the backup alone yields the same flags.
    smash(img, 512, 512);
    expect((await sp.status()).B).toMatchObject({ priority: 2, triesLeft: 1 });
  });

  it('reports status with partition numbers and the next boot', async () => {
    const sp = await Signpost.open({ disk: img, activeSet: { set: 'B' } });
    expect(await sp.status()).toEqual({
      disk: img,
      activeSet: 'B',
      inactiveSet: 'A',
      A: { priority: 1, triesLeft: 0, successful: true, willBoot: true, partitions: { boot: 1, root: 2, hash: 3 } },
      B: { priority: 0, triesLeft: 0, successful: false, willBoot: false, partitions: { boot: 4, root: 5, hash: 6 } },
      bootEverSucceeded: false,
      nextBoot: 'A',
    });
  });

  it('changes only bits 48-57, keeping other attribute bits set by sgdisk', async () => {
    sgdisk('-A', '1:set:60', '-A', '1:set:2', '-A', '4:set:63', '-A', '7:set:0', '-A', '7:set:56', img);
    const sp = await Signpost.open({ disk: img, activeSet: { set: 'A' } });
    const f = (priority: number, triesLeft: number, successful: boolean) => ({ priority, triesLeft, successful });
    const steps: Array<[() => Promise<unknown>, ReturnType<typeof f>, ReturnType<typeof f>]> = [
      [() => sp.clearInactive(), f(1, 0, true), f(0, 0, false)],
      [() => sp.markInactiveValid(), f(1, 0, true), f(0, 1, false)],
      [() => sp.upgradeToInactive(), f(1, 0, true), f(2, 1, false)],
      [() => sp.cancelUpgrade(), f(2, 0, true), f(0, 1, false)],
      [() => sp.markSuccessfulBoot(), f(2, 0, true), f(0, 1, false)],
    ];
    for (const [step, a, b] of steps) {
      await step();
      expect(sgdiskVerifyOutput(img)).toContain('No problems found.');
      expect(sgdiskAttributes(img, 1)).toBe(expectedBootAttributes(a, (1n << 60n) | 4n));
      expect(sgdiskAttributes(img, 4)).toBe(expectedBootAttributes(b, 1n << 63n));
    }
    expect(sgdiskAttributes(img, 1)).toBe('1102000000000004');
    expect(sgdiskAttributes(img, 7)).toBe('0300000000000001'); // bit 57 added, 56 and 0 kept
  });

  it('a refused transition names the flags and writes nothing', async () => {
    const sp = await Signpost.open({ disk: img, activeSet: { set: 'A' } });
    const before = fs.readFileSync(img);
    await expect(sp.upgradeToInactive()).rejects.toThrow(
      new SignpostError('cannot upgrade to set B: it holds no verified image (priority=0 tries=0 successful=0); write an image and run mark-inactive-valid first'),
    );
    await expect(sp.rollbackToInactive()).rejects.toThrow('cannot roll back to set B: it would not boot (priority=0 tries=0 successful=0)');
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  });

  it('leaves a corrupt primary GPT alone in read-only commands and repairs it, logging so, in the next change', async () => {
    const pristine = fs.readFileSync(img);
    smash(img, 2 * 512, 64); // primary entry array
    const damaged = fs.readFileSync(img);
    expect(sgdiskVerifyOutput(img)).not.toContain('No problems found.');
    const logs = capturedLogger();
    const sp = await Signpost.open({ disk: img, activeSet: { set: 'A' }, logger: logs.logger });
    expect(await sp.status()).toMatchObject({ A: { priority: 1, successful: true } });
    expect(await sp.hasBootEverSucceeded()).toBe(false);
    expect(fs.readFileSync(img).equals(damaged)).toBe(true);
    expect(logs.records.map((r) => [r.level, r.msg, r.primaryProblem])).toEqual([
      [40, 'damaged GPT copy; not repaired by a read-only command (the next flag change rewrites both copies)', 'entry array CRC mismatch at LBA 2 (stored 0x' + pristine.readUInt32LE(512 + 88).toString(16).padStart(8, '0') + `, computed 0x${crc32(damaged.subarray(1024, 1024 + 128 * 128)).toString(16).padStart(8, '0')})`],
      [40, 'damaged GPT copy; not repaired by a read-only command (the next flag change rewrites both copies)', expect.stringMatching(/^entry array CRC mismatch at LBA 2/)],
    ]);
    await sp.clearInactive(); // a change that leaves the flags as they are: only the repair is visible
    expect(fs.readFileSync(img).equals(pristine)).toBe(true);
    expect(logs.records.slice(2).map((r) => [r.level, r.msg])).toEqual([
      [40, 'repairing damaged GPT copy'],
      [30, 'signpost clear-inactive'],
    ]);
    await sp.markSuccessfulBoot();
    expectOnDisk('0101000000000000', '0000000000000000', PRIVATE_BIT57);
  });

  it('refuses a disk whose two GPT copies are both corrupt, writing nothing', async () => {
    smash(img, 512 + 20, 4);
    smash(img, fs.statSync(img).size - 512 + 20, 4);
    const before = fs.readFileSync(img);
    await expect(Signpost.open({ disk: img, activeSet: { set: 'A' } })).rejects.toThrow(GptError);
    await expect(Signpost.open({ disk: img, activeSet: { set: 'A' } })).rejects.toThrow(/^no usable GPT on /);
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  });

  it('takes the active set from a file', async () => {
    const file = path.join(dir, 'active-set');
    fs.writeFileSync(file, 'B\n');
    expect((await Signpost.open({ disk: img, activeSet: { file } })).activeSet).toBe('B');
    fs.writeFileSync(file, 'C');
    await expect(Signpost.open({ disk: img, activeSet: { file } })).rejects.toThrow(`${file}: expected A or B, got "C"`);
    await expect(Signpost.open({ disk: img, activeSet: { file: path.join(dir, 'nope') } })).rejects.toThrow(/^cannot read the active set file .*nope: ENOENT/);
  });
});

describe('running root via sysfs', () => {
  /** A fake sysfs where the device of `dir` is dm-0 (dm-verity) on vda5, like a Bottlerocket root. */
  function fakeSysfs(viaDeviceMapper: boolean): string {
    const sys = path.join(dir, 'sys');
    const { major, minor } = decodeDevT(fs.statSync(dir, { bigint: true }).dev);
    const disk = path.join(sys, 'devices/pci0000:00/virtio1/block/vda');
    fs.mkdirSync(path.join(disk, 'vda5'), { recursive: true });
    fs.writeFileSync(path.join(disk, 'dev'), '252:0\n');
    fs.writeFileSync(path.join(disk, 'vda5', 'partition'), '5\n');
    fs.mkdirSync(path.join(sys, 'dev/block'), { recursive: true });
    let target = path.join(disk, 'vda5');
    if (viaDeviceMapper) {
      const dm = path.join(sys, 'devices/virtual/block/dm-0');
      fs.mkdirSync(path.join(dm, 'slaves'), { recursive: true });
      fs.symlinkSync(path.relative(path.join(dm, 'slaves'), path.join(disk, 'vda5')), path.join(dm, 'slaves', 'vda5'));
      target = dm;
    }
    fs.symlinkSync(path.relative(path.join(sys, 'dev/block'), target), path.join(sys, 'dev/block', `${major}:${minor}`));
    return sys;
  }

  it('finds the partition under dm-verity and the disk holding it', () => {
    const sysRoot = fakeSysfs(true);
    expect(findRunningRoot({ sysRoot, rootPath: dir })).toEqual({ diskName: 'vda', disk: { major: 252, minor: 0 }, partitionNumber: 5 });
  });

  it('finds a plain partition root', () => {
    const sysRoot = fakeSysfs(false);
    expect(findRunningRoot({ sysRoot, rootPath: dir }).partitionNumber).toBe(5);
    expect(resolveDiskOptions({}, sysRoot).disk).toBe('/dev/vda');
  });

  it('refuses to guess when the disk is not the running root disk', () => {
    const sysRoot = fakeSysfs(false);
    const sets = findPartitionSets(readGpt(img).gpt);
    expect(() => resolveActiveSet({ runningRoot: { sysRoot, rootPath: dir } }, sets, img)).toThrow(
      `${img} does not hold the running root (it is on /dev/vda); pass --active-set or --active-set-file`,
    );
  });

  it('refuses to guess when the root is a whole disk', () => {
    const sysRoot = fakeSysfs(false);
    const { major, minor } = decodeDevT(fs.statSync(dir, { bigint: true }).dev);
    const link = path.join(sysRoot, 'dev/block', `${major}:${minor}`);
    fs.unlinkSync(link);
    fs.symlinkSync('../../devices/pci0000:00/virtio1/block/vda', link);
    expect(() => findRunningRoot({ sysRoot, rootPath: dir })).toThrow(
      `cannot tell which partition holds the running root (${fs.realpathSync(path.join(sysRoot, 'devices/pci0000:00/virtio1/block/vda'))} is neither a partition nor a single-device mapping); pass --disk and --active-set`,
    );
  });

  it('explains when the root is not on a block device', () => {
    const sysRoot = path.join(dir, 'empty-sys');
    expect(() => findRunningRoot({ sysRoot, rootPath: dir })).toThrow(/is not a block device partition; pass --disk and --active-set$/);
  });
});

describe('resolveDiskOptions', () => {
  it('passes explicit options through', () => {
    expect(resolveDiskOptions({ disk: img, activeSet: 'b' })).toEqual({ disk: img, activeSet: { set: 'B' } });
    expect(resolveDiskOptions({ disk: img, activeSetFile: '/x' })).toEqual({ disk: img, activeSet: { file: '/x' } });
    expect(resolveDiskOptions({ disk: img }, '/fake-sys')).toEqual({ disk: img, activeSet: { runningRoot: { sysRoot: '/fake-sys' } } });
  });
});
